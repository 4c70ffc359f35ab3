package testenv

import (
	"runtime"
	"testing"
)

// fakeT records how Missing stopped it; like testing.T, Fatalf and Skipf
// end the goroutine.
type fakeT struct {
	testing.TB
	fatal, skip string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, _ ...any) {
	f.fatal = format
	runtime.Goexit()
}
func (f *fakeT) Skipf(format string, _ ...any) {
	f.skip = format
	runtime.Goexit()
}

func TestMissing(t *testing.T) {
	for _, ci := range []string{"true", "", "false"} {
		t.Setenv("CI", ci)
		f := &fakeT{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Missing(f, "no %s", "thing")
		}()
		<-done
		if (ci == "true") != (f.fatal != "") || (ci == "true") == (f.skip != "") {
			t.Errorf("CI=%q: fatal %q, skip %q", ci, f.fatal, f.skip)
		}
	}
}
