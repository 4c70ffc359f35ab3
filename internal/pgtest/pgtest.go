// Package pgtest runs throwaway PostgreSQL 15 clusters for tests.
//
// A test binary that uses it calls Main from TestMain; its tests then ask
// NewDatabase for a fresh, empty database of their own on the binary's
// shared cluster, which starts on first use (initdb in a temporary
// directory, a free loopback port, fsync off) and is stopped and removed
// when the binary ends. Fault tests that stop the server take a private
// cluster from NewCluster and call its Stop and Start; tests of a read
// replica make one of such a cluster with Cluster.NewReplica.
//
// When PostgreSQL cannot be started (not installed, initdb fails), a test
// that asked for it is skipped with a message saying how to run it, except
// under CI=true, where it fails: CI never skips these tests silently.
//
// The binaries are looked for in $REACH_PG_BIN, then
// /usr/lib/postgresql/15/bin. PostgreSQL refuses to run as root, so when
// the tests run as root, initdb and postgres run as the `postgres` user
// (which the Debian package creates) in a directory handed to it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/reach-authz/reach/internal/testenv"
)

// DefaultBinDir is where the PostgreSQL 15 binaries are looked for when
// $REACH_PG_BIN is not set.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error

	allMu sync.Mutex
	all   []*Cluster // every cluster started, stopped by Main
)

// Main runs the tests of m, then stops and removes every cluster the
// binary started, and exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	allMu.Lock()
	cs := all
	all = nil
	allMu.Unlock()
	for _, c := range cs {
		c.remove()
	}
	os.Exit(code)
}

// unavailable skips t, or fails it under CI=true, because PostgreSQL could
// not be started.
func unavailable(t testing.TB, err error) {
	t.Helper()
	testenv.Missing(t, "PostgreSQL 15 could not be started (%v). To run these tests install it "+
		"(Debian: apt-get install postgresql-15) or point REACH_PG_BIN at its bin directory; "+
		"as root the tests run it as the postgres user.", err)
}

// Shared returns the binary's shared cluster, starting it on first use.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startCluster() })
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return shared
}

// NewDatabase creates a fresh database on the shared cluster for t, dropped
// when t ends, and returns its connection URI.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDatabase(t)
}

// NewCluster starts a private cluster for t (for tests that stop and start
// the server), stopped and removed when t ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(c.remove)
	return c
}

// Cluster is one running PostgreSQL server with its data directory.
type Cluster struct {
	dir  string // holds data/, the socket and the log
	bin  string
	port int
	cred *syscall.Credential // the postgres user's, when running as root

	primary *Cluster // the cluster a replica streams from; nil for others

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	removed bool

	dbs atomic.Int64
}

// Port is the loopback TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// URI is the connection URI of database db.
func (c *Cluster) URI(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// NewDatabase creates a fresh database for t, dropped when t ends, and
// returns its URI.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	if c.primary != nil {
		t.Fatalf("pgtest: a replica is read-only: create the database on its primary (the replica has it too)")
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name = fmt.Sprintf("t%d_%s", c.dbs.Add(1), name)
	if len(name) > 60 {
		name = name[:60]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The server may have been stopped by the test; nothing to drop then.
		if c.running() {
			_ = c.exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
		}
	})
	return c.URI(name)
}

// exec runs one statement in the postgres database.
func (c *Cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.URI("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (c *Cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// startCluster runs initdb in a new temporary directory and starts the
// server on a free port.
func startCluster() (*Cluster, error) {
	c, err := newCluster()
	if err != nil {
		return nil, err
	}
	out, err := c.command(filepath.Join(c.bin, "initdb"), "-D", c.dataDir(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		os.RemoveAll(c.dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := c.listen(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

// newCluster finds the binaries and the user to run them as, and makes the
// cluster's directory (with no data directory in it yet).
func newCluster() (*Cluster, error) {
	bin := os.Getenv("REACH_PG_BIN")
	if bin == "" {
		bin = DefaultBinDir
	}
	for _, p := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			return nil, fmt.Errorf("no %s in %s", p, bin)
		}
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "reach-pgtest-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if c.cred != nil {
		// The postgres user must reach the directory: it is created 0700
		// and owned by root, under a world-searchable temporary directory.
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return c, nil
}

// listen starts the server of a data directory on a free port and
// registers the cluster for Main to remove.
func (c *Cluster) listen() error {
	var lastErr error
	for range 5 { // a free port may be taken before the server binds it
		port, err := freePort()
		if err != nil {
			return err
		}
		c.port = port
		if lastErr = c.Start(); lastErr == nil {
			allMu.Lock()
			all = append(all, c)
			allMu.Unlock()
			return nil
		}
	}
	return lastErr
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.cred,
		// The server dies with the test binary, even when it is killed.
		Pdeathsig: syscall.SIGQUIT,
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	logPath := filepath.Join(c.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := c.command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir(),
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=256MB",
		"-c", "max_wal_size=2GB",
		"-c", "log_min_messages=warning",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URI("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			c.cmd, c.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start: %s", tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGQUIT)
			<-exited
			return fmt.Errorf("postgres did not accept connections within a minute: %v: %s", err, tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down (fast: open sessions are ended) and waits
// for it to exit. Its data stays for Start.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT)
		<-exited
	}
	return nil
}

// remove stops the server and deletes its directory.
func (c *Cluster) remove() {
	c.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.removed {
		c.removed = true
		os.RemoveAll(c.dir)
	}
}

// CPUTime is the processor time the server has used since it started
// (every process of it, ended backends included), for benchmarks that
// report the database's share of the work: /proc/PID/stat of the
// postmaster (its own time and its reaped children's) and of its live
// children.
func (c *Cluster) CPUTime() time.Duration {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil {
		return 0
	}
	pid := cmd.Process.Pid
	ticks := func(stat string, withChildren bool) (ppid int, n int64) {
		// Fields after the command, which is in parentheses.
		i := strings.LastIndexByte(stat, ')')
		if i < 0 {
			return 0, 0
		}
		f := strings.Fields(stat[i+1:])
		if len(f) < 15 {
			return 0, 0
		}
		ppid, _ = strconv.Atoi(f[1])
		last := 13 // utime, stime are fields 14 and 15 (f[11], f[12])
		if withChildren {
			last = 15 // and cutime, cstime
		}
		for _, v := range f[11:last] {
			x, _ := strconv.ParseInt(v, 10, 64)
			n += x
		}
		return ppid, n
	}
	var total int64
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		_, total = ticks(string(b), true)
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		if ppid, n := ticks(string(b), false); ppid == pid {
			total += n
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// tail returns the end of the server's log, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}
