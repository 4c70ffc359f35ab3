package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// memWatch samples the Go heap in use and the anonymous resident memory
// every 50 ms and remembers their peaks. With profile set, it also keeps a heap profile of the largest live heap
// (what the last garbage collection found reachable) seen since the last
// reset.
type memWatch struct {
	peak    atomic.Uint64 // Go heap
	anon    atomic.Uint64 // anonymous resident memory
	profile bool
	stop    chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	peakLive uint64       // the largest live heap seen since the reset
	prof     bytes.Buffer // the heap profile taken at peakLive (if profile)
}

const (
	heapMetric = "/memory/classes/heap/objects:bytes"
	liveMetric = "/gc/heap/live:bytes"
)

func startMemWatch(profile bool) *memWatch {
	m := &memWatch{profile: profile, stop: make(chan struct{}), done: make(chan struct{})}
	m.read()
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				m.read()
				return
			case <-t.C:
				m.read()
			}
		}
	}()
	return m
}

// read takes one sample (from the watch's goroutine, and from peaks, so
// that a phase shorter than the period is sampled too).
func (m *memWatch) read() {
	sample := []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		storeMax(&m.peak, sample[0].Value.Uint64())
	}
	storeMax(&m.anon, statusBytes("RssAnon:"))
	if sample[1].Value.Kind() == metrics.KindUint64 {
		m.sawLive(sample[1].Value.Uint64())
	}
}

// storeMax raises p to v if v is larger.
func storeMax(p *atomic.Uint64, v uint64) {
	for {
		old := p.Load()
		if v <= old || p.CompareAndSwap(old, v) {
			return
		}
	}
}

// sawLive records a live heap, and takes a heap profile (if the watch
// profiles) when it is the largest yet. The profile, like live, describes
// the heap as the last garbage collection found it.
func (m *memWatch) sawLive(live uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if live <= m.peakLive {
		return
	}
	m.peakLive = live
	if !m.profile {
		return
	}
	m.prof.Reset()
	if err := pprof.Lookup("heap").WriteTo(&m.prof, 0); err != nil {
		m.prof.Reset()
	}
}

// heapProfile returns the heap profile of the largest live heap since the
// last reset (empty without one).
func (m *memWatch) heapProfile() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.prof.Bytes())
}

// reset starts a new peak, of the heap and (where Linux allows) of the
// resident set. It first collects the garbage and returns the free heap to
// the system, so that what the last phase (the load) left behind is not
// counted in the next: a fresh process would not have it.
func (m *memWatch) reset() {
	debug.FreeOSMemory()
	m.peak.Store(0)
	m.anon.Store(0)
	m.mu.Lock()
	m.peakLive = 0
	m.prof.Reset()
	m.mu.Unlock()
	resetPeakRSS()
}

// memPeaks are the peaks of a phase of a run.
type memPeaks struct {
	rss  uint64 // resident set (0 if unknown): Linux's VmHWM
	anon uint64 // anonymous resident memory, sampled (0 if unknown)
	heap uint64 // Go heap, sampled
	live uint64 // live Go heap, as garbage collections found it
}

// peaks returns the peaks since the last reset, this moment included.
func (m *memWatch) peaks() memPeaks {
	m.read()
	m.mu.Lock()
	live := m.peakLive
	m.mu.Unlock()
	return memPeaks{rss: statusBytes("VmHWM:"), anon: m.anon.Load(), heap: m.peak.Load(), live: live}
}

func (m *memWatch) close() {
	close(m.stop)
	<-m.done
}

// statusBytes reads a field of /proc/self/status given in kB (VmHWM, the
// high-water mark of the resident set; RssAnon, the resident memory that
// no file backs: the Go heap, the check cache's mapping; ...) in bytes; 0
// where there is no such file or field.
func statusBytes(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte(field)); ok {
			v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
			kb, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current resident set (Linux 4.0 and
// later); elsewhere it does nothing and the peak covers the whole process.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
