//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package engine

import "syscall"

// allocCacheMemory maps n bytes of anonymous memory, outside Go's heap:
// the collector neither scans the cache nor counts it towards its goal,
// and pages cost resident memory only once written. It falls back on the
// heap when the system refuses.
func allocCacheMemory(n int) ([]byte, func([]byte)) {
	n = max(n, 8)
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return heapCacheMemory(n), nil
	}
	return b, func(b []byte) { _ = syscall.Munmap(b) }
}
