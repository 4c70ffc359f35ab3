package tuples

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
	"google.golang.org/protobuf/proto"
)

// Integrity of an on-disk store. Badger trusts its directory: a missing or
// torn MANIFEST makes it start an empty database and delete every table it
// no longer knows; a table whose checksum fails at open is skipped; a block
// that fails its checksum while read ends the iteration as if the data
// ended there; a table cut short panics in one of its goroutines. So before
// Badger opens a directory, Open checks it (checkDir), and refuses, naming
// the file and deleting nothing, when:
//
//   - the MANIFEST is missing (or unreadable) while the directory holds
//     tables, logs or reach's marker file (REACH);
//   - a table the MANIFEST lists is missing, or is damaged: every table is
//     opened and its checksums verified (the index, and every block) once,
//     and again whenever its file changes (REACH-VERIFIED remembers the
//     tables verified, by size, times and inode);
//   - a table that the MANIFEST does not list (Badger would delete it) holds
//     data found nowhere else in the store: that is what a torn or truncated
//     MANIFEST looks like. A crash leaves such tables too, made by a flush or
//     compaction that did not finish, or deleted from the MANIFEST but not
//     yet from the disk; their data is elsewhere, which is checked entry by
//     entry in a read-only view of the store without them (openView).
//
// While open, a store verifies again any table whose file changes, and
// stops on damage (watch.go); Badger verifies each value it reads from the
// value log (and a value it cannot read is an error: itemValue); and a panic
// of Badger's inside a read becomes an error (readGuard). What remains is
// the time between a table's change and the next look (10 s at most), when
// Badger may read damage as data or end a read early.

// Files reach keeps in a store's directory beside Badger's.
const (
	markerFile   = "REACH"          // written when a store is first opened read-write
	verifiedFile = "REACH-VERIFIED" // tables whose checksums were verified
	markerText   = "reach relationship store (badger v4)\n"
)

// CorruptError reports damaged store data; it matches ErrCorrupt.
type CorruptError struct {
	Path string // the damaged file, when known
	Err  error  // what is wrong
}

func (e *CorruptError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%v: %v", ErrCorrupt, e.Err)
	}
	return fmt.Sprintf("%v: %s: %v", ErrCorrupt, e.Path, e.Err)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns what is wrong.
func (e *CorruptError) Unwrap() error { return e.Err }

func corruptf(path, format string, args ...any) error {
	return &CorruptError{Path: path, Err: fmt.Errorf(format, args...)}
}

// manifestState is what a MANIFEST says: the tables it lists now, and every
// table it ever recorded as created or deleted (since its last rewrite).
type manifestState struct {
	tables  map[uint64]manifestTable
	deleted map[uint64]bool
	size    int64 // bytes in the file
	whole   int64 // bytes up to the end of the last whole record
}

type manifestTable struct {
	level       uint32
	compression uint32
}

// Badger's MANIFEST format (badger v4 manifest.go): "Bdgr", a 2-byte
// external magic, a 2-byte version, then records of a 4-byte big-endian
// length, a 4-byte CRC-32C and a ManifestChangeSet.
const badgerManifestVersion = 8

func readManifest(path string) (*manifestState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &manifestState{tables: map[uint64]manifestTable{}, deleted: map[uint64]bool{}, size: int64(len(data))}
	if len(data) < 8 || string(data[:4]) != "Bdgr" {
		return nil, corruptf(path, "not a Badger MANIFEST (%d bytes, no magic number)", len(data))
	}
	if v := binary.BigEndian.Uint16(data[6:8]); v != badgerManifestVersion {
		return nil, corruptf(path, "MANIFEST version %d, want %d", v, badgerManifestVersion)
	}
	off := 8
	for {
		m.whole = int64(off)
		if len(data)-off < 8 {
			break
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > len(data)-off-8 {
			break // a record cut short: the end of the file is torn
		}
		rec := data[off+8 : off+8+n]
		if crc32.Checksum(rec, y.CastagnoliCrcTable) != sum {
			return nil, corruptf(path, "MANIFEST record at byte %d fails its checksum", off)
		}
		var set pb.ManifestChangeSet
		if err := proto.Unmarshal(rec, &set); err != nil {
			return nil, corruptf(path, "MANIFEST record at byte %d: %v", off, err)
		}
		for _, c := range set.Changes {
			switch c.Op {
			case pb.ManifestChange_CREATE:
				if _, dup := m.tables[c.Id]; dup {
					return nil, corruptf(path, "MANIFEST creates table %d twice", c.Id)
				}
				m.tables[c.Id] = manifestTable{level: c.Level, compression: c.Compression}
				delete(m.deleted, c.Id)
			case pb.ManifestChange_DELETE:
				delete(m.tables, c.Id)
				m.deleted[c.Id] = true
			default:
				return nil, corruptf(path, "MANIFEST record at byte %d: unknown change %v", off, c.Op)
			}
		}
		off += 8 + n
	}
	return m, nil
}

// dirFiles is a store directory's listing, by kind.
type dirFiles struct {
	tables             map[uint64]string // id -> name
	vlogs, mems, other []string
	manifest, marker   bool
}

func listDir(dir string) (dirFiles, error) {
	d := dirFiles{tables: map[uint64]string{}}
	es, err := os.ReadDir(dir)
	if err != nil {
		return d, err
	}
	for _, e := range es {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".sst"):
			if id, ok := parseTableName(name); ok {
				d.tables[id] = name
			}
		case strings.HasSuffix(name, ".vlog"):
			d.vlogs = append(d.vlogs, name)
		case strings.HasSuffix(name, ".mem"):
			d.mems = append(d.mems, name)
		case name == badger.ManifestFilename:
			d.manifest = true
		case name == markerFile:
			d.marker = true
		}
	}
	return d, nil
}

func parseTableName(name string) (uint64, bool) {
	n := strings.TrimSuffix(name, ".sst")
	if n == "" || strings.Trim(n, "0123456789") != "" || len(n) > 18 {
		return 0, false
	}
	return table.ParseFileID(name)
}

// hasData reports whether the directory holds anything of a store.
func (d dirFiles) hasData() bool {
	return d.marker || len(d.tables) > 0 || len(d.vlogs) > 0 || len(d.mems) > 0
}

// dirCheck is what checkDir found and what Open does with it.
type dirCheck struct {
	dir      string
	files    dirFiles
	manifest *manifestState
	orphans  []uint64 // tables not in the MANIFEST whose data must be found elsewhere
	garbage  []uint64 // tables the MANIFEST deleted whose files remain
	verified *verifiedTables
	problems []error // collected (Check); Open stops at the first
}

// checkDir checks a store directory before Badger opens it (see the comment
// at the top of this file). With all, it collects every problem instead of
// stopping at the first, and verifies every table even if verified before.
// It changes nothing on disk.
func checkDir(dir string, all bool) (*dirCheck, error) {
	c := &dirCheck{dir: dir}
	fail := func(err error) error {
		c.problems = append(c.problems, err)
		if all {
			return nil
		}
		return err
	}
	var err error
	if c.files, err = listDir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		return c, err
	}
	mpath := filepath.Join(dir, badger.ManifestFilename)
	if !c.files.manifest {
		if c.files.hasData() {
			what := fmt.Sprintf("%d tables, %d value logs, %d write-ahead logs", len(c.files.tables), len(c.files.vlogs), len(c.files.mems))
			return c, fail(corruptf(mpath, "missing, yet the directory holds a store (%s); Badger would open it empty and delete the tables, so it is not opened", what))
		}
		return c, nil // a new store
	}
	c.manifest, err = readManifest(mpath)
	if err != nil {
		return c, fail(err)
	}
	var missing []string
	for id := range c.manifest.tables {
		if _, ok := c.files.tables[id]; !ok {
			missing = append(missing, table.IDToFilename(id))
		}
	}
	slices.Sort(missing)
	for _, name := range missing {
		if err := fail(corruptf(filepath.Join(dir, name), "listed in the MANIFEST but missing")); err != nil {
			return c, err
		}
	}
	for id := range c.files.tables {
		if _, ok := c.manifest.tables[id]; ok {
			continue
		}
		if c.manifest.deleted[id] {
			c.garbage = append(c.garbage, id)
		} else {
			c.orphans = append(c.orphans, id)
		}
	}
	slices.Sort(c.orphans)
	slices.Sort(c.garbage)
	c.verified = loadVerified(dir)
	ids := make([]uint64, 0, len(c.manifest.tables))
	for id := range c.manifest.tables {
		if _, ok := c.files.tables[id]; ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		path := table.NewFilename(id, dir)
		st, ok := statFile(path)
		if !all && ok && c.verified.has(table.IDToFilename(id), st) {
			c.verified.keep(table.IDToFilename(id), st)
			continue
		}
		if err := verifyTable(path, options.CompressionType(c.manifest.tables[id].compression)); err != nil {
			if err := fail(err); err != nil {
				return c, err
			}
			continue
		}
		if ok {
			c.verified.keep(table.IDToFilename(id), st)
		}
	}
	return c, nil
}

// verifyTable opens a table and verifies its checksums: the index's, and
// every block's. A table damaged so that Badger panics reading it (cut
// short, say) gives an error too.
func verifyTable(path string, comp options.CompressionType) (err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() < 16 {
		return corruptf(path, "table of %d bytes, too short to be whole", fi.Size())
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			what := panicText(r)
			if strings.HasPrefix(what, "==") {
				what = "its index or its end is damaged or missing"
			}
			err = corruptf(path, "damaged table: Badger cannot read it (%s)", what)
		}
		mf.Close(-1)
	}()
	// Bytes are read through the mapping: a file cut short under it faults;
	// make that a panic (recovered above) rather than a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	t, err := table.OpenTable(mf, table.Options{ChkMode: options.NoVerification, Compression: comp, BlockSize: 4 << 10})
	if err != nil {
		return corruptf(path, "%v", err)
	}
	if err := t.VerifyChecksum(); err != nil {
		return corruptf(path, "%v", err)
	}
	return nil
}

// panicText is the first line of a recovered panic, shortened.
func panicText(r any) string {
	s := fmt.Sprint(r)
	if i := strings.IndexByte(strings.TrimLeft(s, "\n"), '\n'); i >= 0 {
		s = strings.TrimLeft(s, "\n")[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// checkOrphans decides about the tables the MANIFEST does not list (and did
// not delete): a read-only view of the store without them is opened, and
// every entry of each must be found in it (same key, same version). If so
// they are garbage of an unfinished flush or compaction, which Badger
// deletes when it opens the store read-write; if not, the MANIFEST lost them
// and the store is refused. A table too damaged to read is the unfinished
// write of a crash (a table is written whole and synced before the MANIFEST
// names it).
func checkOrphans(dir string, c *dirCheck, bo badger.Options) error {
	var readable []uint64
	for _, id := range c.orphans {
		if verifyTable(table.NewFilename(id, dir), 0) == nil {
			readable = append(readable, id)
		}
	}
	if len(readable) == 0 {
		return nil
	}
	db, cleanup, err := openView(dir, c.files, c.manifest, bo)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return fmt.Errorf("check %s missing from the MANIFEST: %w", tableNames(readable), err)
	}
	defer func() {
		db.Close()
		cleanup()
	}()
	for _, id := range readable {
		lost, err := orphanData(db, table.NewFilename(id, dir))
		if err != nil {
			return err
		}
		if lost > 0 {
			m := c.manifest
			torn := ""
			if m.whole < m.size {
				torn = fmt.Sprintf(", and the MANIFEST is torn at byte %d of %d", m.whole, m.size)
			}
			return corruptf(filepath.Join(dir, badger.ManifestFilename),
				"does not list %s, which hold data found nowhere else (%d entries of %s)%s: the MANIFEST is damaged; the store is not opened, since Badger would delete those tables",
				tableNames(c.orphans), lost, table.IDToFilename(id), torn)
		}
	}
	return nil
}

// tableNames names some tables for a message: "3 tables (000001.sst,
// 000002.sst, 000004.sst)".
func tableNames(ids []uint64) string {
	var names []string
	for i, id := range ids {
		if i == 3 {
			names = append(names, "...")
			break
		}
		names = append(names, table.IDToFilename(id))
	}
	n := fmt.Sprintf("%d tables", len(ids))
	if len(ids) == 1 {
		n = "1 table"
	}
	return n + " (" + strings.Join(names, ", ") + ")"
}

// orphanData counts the entries of the table at path not found in db. An
// unreadable table counts none.
func orphanData(db *badger.DB, path string) (lost int, err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, nil
	}
	defer func() {
		if r := recover(); r != nil {
			lost, err = 0, nil // half-written: the unfinished write of a crash
		}
		mf.Close(-1)
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	t, err := table.OpenTable(mf, table.Options{ChkMode: options.OnBlockRead, BlockSize: 4 << 10})
	if err != nil {
		return 0, nil
	}
	if t.VerifyChecksum() != nil {
		return 0, nil
	}
	txn := db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
	defer it.Close()
	ti := t.NewIterator(0)
	defer ti.Close()
	badgerKeys := []byte("!badger!")
	for ti.Rewind(); ti.Valid(); ti.Next() {
		key, ver := y.ParseKey(ti.Key()), y.ParseTs(ti.Key())
		if bytes.HasPrefix(key, badgerKeys) {
			continue
		}
		found := false
		for it.Seek(key); it.Valid() && bytes.Equal(it.Item().Key(), key); it.Next() {
			if v := it.Item().Version(); v <= ver {
				found = v == ver
				break
			}
		}
		if !found {
			lost++
		}
	}
	return lost, nil
}

// verifiedTables remembers the tables whose checksums were verified, by
// name and file identity (size, modification and change times, inode), so
// that each table is read whole once, not at every open: a table never
// changes once written, and a file changed since (by a person or a failing
// disk through the filesystem) gets a new change time.
type verifiedTables struct {
	old, now map[string]fileStamp
}

func loadVerified(dir string) *verifiedTables {
	v := &verifiedTables{old: map[string]fileStamp{}, now: map[string]fileStamp{}}
	data, err := os.ReadFile(filepath.Join(dir, verifiedFile))
	if err != nil {
		return v
	}
	// Lines of "name size mtime ctime inode"; anything unreadable is ignored
	// (the tables are then verified again).
	for _, line := range strings.Split(string(data), "\n") {
		var name string
		var st fileStamp
		if n, _ := fmt.Sscanf(line, "%s %d %d %d %d", &name, &st.size, &st.mtime, &st.ctime, &st.ino); n == 5 {
			v.old[name] = st
		}
	}
	return v
}

func (v *verifiedTables) has(name string, st fileStamp) bool {
	old, ok := v.old[name]
	return ok && old == st
}

func (v *verifiedTables) keep(name string, st fileStamp) { v.now[name] = st }

// save writes the list if it changed; errors are ignored (it is a cache).
func (v *verifiedTables) save(dir string) {
	if v == nil || stampsEqual(v.old, v.now) {
		return
	}
	names := make([]string, 0, len(v.now))
	for name := range v.now {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		st := v.now[name]
		fmt.Fprintf(&b, "%s %d %d %d %d\n", name, st.size, st.mtime, st.ctime, st.ino)
	}
	writeFileAtomic(filepath.Join(dir, verifiedFile), []byte(b.String()))
}

func stampsEqual(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	size, mtime, ctime int64
	ino                uint64
}

// writeFileAtomic replaces path with data (write, sync, rename, sync dir).
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return z.SyncDir(filepath.Dir(path))
}

// writeMarker marks dir as a reach store, once.
func writeMarker(dir string) {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err == nil {
		return
	}
	writeFileAtomic(filepath.Join(dir, markerFile), []byte(markerText))
}

// readGuard turns a panic inside Badger while reading (a damaged table)
// into an error, at the store's boundary; a panic of the caller's callback
// goes on. Use:
//
//	var g readGuard
//	defer g.recover(&err)
//	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
//	... g.inCallback = true; more := fn(r); g.inCallback = false ...
//
// SetPanicOnFault makes a fault on a mapped file cut short a panic too.
type readGuard struct{ inCallback bool }

func (g *readGuard) recover(err *error) {
	if r := recover(); r != nil {
		if g.inCallback {
			panic(r)
		}
		*err = &CorruptError{Err: fmt.Errorf("reading the store failed (%s)", panicText(r))}
	}
}

// readErr marks an error of Badger's from reading a value as corruption
// (a value-log checksum, a read past the end of a value log).
func readErr(err error) error {
	if err == nil || errors.Is(err, badger.ErrKeyNotFound) || errors.Is(err, badger.ErrDBClosed) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return &CorruptError{Err: err}
}

// itemValue calls fn with item's value. Badger does not fail a value it
// cannot read from the value log (a damaged value log, a failed checksum):
// it logs the error and yields no value. Every value the store writes is
// either empty in the item itself or not empty, so an empty value from an
// item whose value has a size is that failure, an error here.
func itemValue(item *badger.Item, fn func([]byte) error) error {
	return readErr(item.Value(func(v []byte) error {
		if len(v) == 0 && item.ValueSize() > 0 {
			return unreadableValue(item)
		}
		return fn(v)
	}))
}

// itemValueCopy is item.ValueCopy, checked as itemValue is.
func itemValueCopy(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, readErr(err)
	}
	if len(v) == 0 && item.ValueSize() > 0 {
		return nil, unreadableValue(item)
	}
	return v, nil
}

func unreadableValue(item *badger.Item) error {
	return corruptf("", "the value of key %q (version %d) cannot be read from the value log", item.Key(), item.Version())
}

// A read-only view of a store. Badger opens a store read-only only if each
// of its write-ahead logs (.mem) ends where its entries end, which is not so
// after a crash (a read-write open cuts them there first). A view is a
// directory inside the store's (reach-view-*) of hard links to its tables,
// value logs and MANIFEST, which a read-only Badger never changes, and of
// copies of its write-ahead logs, cut where Badger says they end. The
// store's directory must stay locked while the view is open: a writer would
// compact, and Badger empties a table file before deleting it.
const viewPrefix = "reach-view-"

// openView opens a read-only view of the store in dir, made of the tables
// the MANIFEST lists and its other files. cleanup removes the view once the
// database is closed.
func openView(dir string, files dirFiles, m *manifestState, bo badger.Options) (db *badger.DB, cleanup func(), err error) {
	view, err := os.MkdirTemp(dir, viewPrefix)
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { os.RemoveAll(view) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	link := func(name string) error { return os.Link(filepath.Join(dir, name), filepath.Join(view, name)) }
	for id := range m.tables {
		if name, ok := files.tables[id]; ok {
			if err := link(name); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, name := range append([]string{badger.ManifestFilename, "KEYREGISTRY"}, files.vlogs...) {
		if err := link(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	for _, name := range files.mems {
		if err := copyFileSparse(filepath.Join(dir, name), filepath.Join(view, name)); err != nil {
			return nil, nil, err
		}
	}
	db, err = openCutting(bo.WithDir(view).WithValueDir(view).WithReadOnly(true), view, len(files.mems))
	if err != nil {
		return nil, nil, err
	}
	return db, cleanup, nil
}

// openCutting opens a Badger read-only (bo says so), cutting each of the
// write-ahead logs in dir where Badger finds its entries end, as a
// read-write open would (at most cuts of them).
func openCutting(bo badger.Options, dir string, cuts int) (*badger.DB, error) {
	for range cuts + 1 {
		db, err := badger.OpenManaged(bo)
		if err == nil || !truncateNeeded(err) {
			return db, err
		}
		// "while opening fid: 3 ... end offset: 1234 < size: 5678"
		var fid, end int64
		msg := err.Error()
		i, j := strings.Index(msg, "fid: "), strings.Index(msg, "end offset: ")
		if i < 0 || j < 0 {
			return nil, err
		}
		if _, e := fmt.Sscanf(msg[i:], "fid: %d", &fid); e != nil {
			return nil, err
		}
		if _, e := fmt.Sscanf(msg[j:], "end offset: %d", &end); e != nil {
			return nil, err
		}
		if e := os.Truncate(filepath.Join(dir, fmt.Sprintf("%05d.mem", fid)), end); e != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("write-ahead logs still need cutting after %d cuts", cuts)
}

// truncateNeeded reports whether Badger refused to open read-only because a
// write-ahead log needs cutting (Badger wraps its ErrTruncateNeeded into
// text).
func truncateNeeded(err error) bool {
	return err != nil && (errors.Is(err, badger.ErrTruncateNeeded) || strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()))
}

// removeViews removes views left by a process that ended with one open.
func removeViews(dir string) {
	views, _ := filepath.Glob(filepath.Join(dir, viewPrefix+"*"))
	for _, v := range views {
		os.RemoveAll(v)
	}
}

// copyFileSparse copies the data of file src to dst, up to the end of its
// last data (a write-ahead log is mostly a hole, after its entries).
func copyFileSparse(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	const seekData, seekHole = 3, 4 // lseek(2) SEEK_DATA and SEEK_HOLE
	buf := make([]byte, 1<<20)
	for off := int64(0); off < fi.Size(); {
		data, err := in.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off (or no SEEK_DATA: copied whole below)
		}
		hole, err := in.Seek(data, seekHole)
		if err != nil {
			return err
		}
		for at := data; at < hole; {
			n, err := in.ReadAt(buf[:min(int64(len(buf)), hole-at)], at)
			if n > 0 {
				if _, err := out.WriteAt(buf[:n], at); err != nil {
					return err
				}
			}
			if err != nil && n == 0 {
				return err
			}
			at += int64(n)
		}
		off = hole
	}
	return nil
}

// trimToData cuts a write-ahead log after its last data, where only a hole
// (never written) follows. Badger reads a little past its entries' end when
// it opens one, and on a full tmpfs reading a hole of a shared mapping
// needs a page, which faults; a writable open cuts the log anyway.
func trimToData(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const seekData, seekHole = 3, 4 // lseek(2) SEEK_DATA and SEEK_HOLE
	end := int64(0)
	for off := int64(0); off < fi.Size(); {
		data, err := f.Seek(off, seekData)
		if err != nil {
			break // no data after off
		}
		hole, err := f.Seek(data, seekHole)
		if err != nil {
			return nil // no SEEK_HOLE: leave it
		}
		end, off = hole, hole
	}
	if end < fi.Size() {
		return f.Truncate(end)
	}
	return nil
}
