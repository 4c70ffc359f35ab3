//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package engine

// allocCacheMemory takes n bytes of Go heap where anonymous mappings are
// not available.
func allocCacheMemory(n int) ([]byte, func([]byte)) {
	return heapCacheMemory(max(n, 8)), nil
}
