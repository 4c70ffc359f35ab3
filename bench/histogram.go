package bench

import (
	"math"
	"math/bits"
)

// Histogram records durations (nanoseconds) in log-linear buckets: exact
// below 64 ns, then 64 buckets per power of two, so that every quantile is
// within 1.6% of the true value, in constant memory (about 20 KiB) and
// without allocating per value.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	// values up to 2^46 ns (about 19 hours); larger ones go in the last bucket.
	histBuckets = (46 - histSubBits + 1) * histSub
)

func histIndex(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1 // v>>e is in [64, 128)
	i := (e+1)*histSub + int(v>>e) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histBounds is the range of values bucket i holds.
func histBounds(i int) (lo, hi int64) {
	if i < histSub {
		return int64(i), int64(i)
	}
	e := i/histSub - 1
	m := int64(i%histSub + histSub)
	return m << e, (m+1)<<e - 1
}

// Record adds one value.
func (h *Histogram) Record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	h.counts[histIndex(ns)]++
	if h.n == 0 || ns < h.min {
		h.min = ns
	}
	if ns > h.max {
		h.max = ns
	}
	h.n++
	h.sum += float64(ns)
}

// Merge adds every value of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Mean is the mean value (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() int64 { return h.max }

// Min is the smallest value recorded, exactly.
func (h *Histogram) Min() int64 { return h.min }

// Quantile returns the value below or at which a fraction q of the values
// lie (q in [0, 1]): the middle of the bucket holding the value of rank
// ceil(q*n), clamped to the exact minimum and maximum. 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histBounds(i)
			v := lo + (hi-lo)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// bucket is one non-empty bucket: values in [Lo, Hi], Count of them.
type bucket struct {
	Lo, Hi int64
	Count  uint64
}

// buckets lists the non-empty buckets in increasing order.
func (h *Histogram) buckets() []bucket {
	var out []bucket
	for i, c := range h.counts {
		if c > 0 {
			lo, hi := histBounds(i)
			out = append(out, bucket{lo, hi, c})
		}
	}
	return out
}
