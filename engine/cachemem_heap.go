package engine

import "unsafe"

// heapCacheMemory is n bytes of Go heap, 8-byte aligned.
func heapCacheMemory(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}
