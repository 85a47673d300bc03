package stripemock

import (
	"os/exec"
	"syscall"
)

// bindToParent makes the kernel kill stripe-mock when the test process
// dies, so a test binary stopped by -timeout or a crash leaves no server
// running. t.Cleanup covers every orderly end.
//
// NOTE: Linux sends the signal when the OS thread that started the child
// exits, not only the process. The Go runtime keeps its threads unless a
// goroutine that called runtime.LockOSThread ends without unlocking, which
// no caller of Start does.
func bindToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
