//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// killGroup makes a timeout end the test binaries go test started, not only
// go test itself.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
