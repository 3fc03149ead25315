package journal

import (
	"os"
	"syscall"
)

// datasync makes f's data durable with fdatasync(2): see prealloc.go.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
