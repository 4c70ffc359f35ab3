package bench

import (
	"os"
	"testing"
)

var benchTmp string

// benchDir is a directory for the benchmarks' store, removed by TestMain.
func benchDir() (string, error) {
	if benchTmp == "" {
		d, err := os.MkdirTemp("", "reach-bench-test-*")
		if err != nil {
			return "", err
		}
		benchTmp = d
	}
	return benchTmp, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.store != nil {
		fixture.store.Close()
	}
	if benchTmp != "" {
		os.RemoveAll(benchTmp)
	}
	os.Exit(code)
}
