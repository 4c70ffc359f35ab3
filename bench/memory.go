package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"
)

// memWatch samples the Go heap in use every 50 ms and remembers the peak.
type memWatch struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func startMemWatch() *memWatch {
	m := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	sample := []metrics.Sample{{Name: heapMetric}}
	read := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			v := sample[0].Value.Uint64()
			for {
				p := m.peak.Load()
				if v <= p || m.peak.CompareAndSwap(p, v) {
					break
				}
			}
		}
	}
	read()
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return m
}

// reset starts a new peak, of the heap and (where Linux allows) of the
// resident set.
func (m *memWatch) reset() {
	m.peak.Store(0)
	resetPeakRSS()
}

// peaks returns the peak resident set (0 if unknown) and Go heap since
// the last reset.
func (m *memWatch) peaks() (rss, heap uint64) {
	return peakRSS(), m.peak.Load()
}

func (m *memWatch) close() {
	close(m.stop)
	<-m.done
}

// peakRSS reads VmHWM (the high-water mark of the resident set) from
// /proc/self/status; 0 where there is no such file.
func peakRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
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
