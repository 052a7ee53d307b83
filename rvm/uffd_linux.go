package rvm

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux ABI (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h),
// defined here because x/sys/unix does not carry them.
const (
	uffdAPI                  = 0xAA
	uffdFeatureWPUnpopulated = 1 << 13
	uffdFeatureWPAsync       = 1 << 15
	uffdioAPI                = 0xC018AA3F // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister           = 0xC020AA00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdioWriteProtect       = 0xC018AA06 // _IOWR(0xAA, 0x06, struct uffdio_writeprotect)
	uffdioRegisterModeWP     = 1 << 1
	uffdioWriteProtectModeWP = 1 << 0

	pagemapScan        = 0xC0606610 // _IOWR('f', 16, struct pm_scan_arg)
	pmScanWPMatching   = 1 << 0
	pmScanCheckWPAsync = 1 << 1
	pageIsWritten      = 1 << 1
)

type uffdioAPIArg struct{ API, Features, Ioctls uint64 }
type uffdioRange struct{ Start, Len uint64 }
type uffdioRegisterArg struct {
	Range  uffdioRange
	Mode   uint64
	Ioctls uint64
}
type uffdioWriteProtectArg struct {
	Range uffdioRange
	Mode  uint64
}
type pmScanArg struct {
	Size, Flags, Start, End, WalkEnd, Vec, VecLen, MaxPages       uint64
	CategoryInverted, CategoryMask, CategoryAnyofMask, ReturnMask uint64
}
type pageRegion struct{ Start, End, Categories uint64 }

var (
	pagemapOnce sync.Once
	pagemapFile *os.File
	pagemapErr  error
)

func pagemap() (*os.File, error) {
	pagemapOnce.Do(func() { pagemapFile, pagemapErr = os.Open("/proc/self/pagemap") })
	return pagemapFile, pagemapErr
}

// writeTracker tracks writes to one mapping with userfaultfd async
// write-protection and PAGEMAP_SCAN.
type writeTracker struct {
	fd      int
	mem     []byte
	osPage  int
	regions []pageRegion
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// newWriteTracker write-protects mem and returns a tracker, or an error
// wrapping ErrNoWriteTracking saying why not.
func newWriteTracker(mem []byte) (*writeTracker, error) {
	fail := func(step string, err error) (*writeTracker, error) {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoWriteTracking, step, err)
	}
	if _, err := pagemap(); err != nil {
		return fail("open /proc/self/pagemap", err)
	}
	fdr, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if errno != 0 {
		return fail("userfaultfd", errno)
	}
	t := &writeTracker{fd: int(fdr), mem: mem, osPage: os.Getpagesize()}
	api := uffdioAPIArg{API: uffdAPI, Features: uffdFeatureWPAsync | uffdFeatureWPUnpopulated}
	if _, err := ioctl(t.fd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		t.close()
		return fail("UFFDIO_API with WP_ASYNC", err)
	}
	reg := uffdioRegisterArg{Range: t.rangeAll(), Mode: uffdioRegisterModeWP}
	if _, err := ioctl(t.fd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		t.close()
		return fail("UFFDIO_REGISTER (write-protect mode)", err)
	}
	wp := uffdioWriteProtectArg{Range: t.rangeAll(), Mode: uffdioWriteProtectModeWP}
	if _, err := ioctl(t.fd, uffdioWriteProtect, unsafe.Pointer(&wp)); err != nil {
		t.close()
		return fail("UFFDIO_WRITEPROTECT", err)
	}
	if _, err := t.scan(nil, false); err != nil {
		t.close()
		return fail("PAGEMAP_SCAN", err)
	}
	return t, nil
}

func (t *writeTracker) rangeAll() uffdioRange {
	return uffdioRange{Start: uint64(uintptr(unsafe.Pointer(&t.mem[0]))), Len: uint64(len(t.mem))}
}

// scan calls visit with the byte offset and length of every run of OS pages
// written since the last scan that reset them; with reset, those pages are
// write-protected again in the same call.
func (t *writeTracker) scan(visit func(off, n int), reset bool) (int, error) {
	pm, err := pagemap()
	if err != nil {
		return 0, err
	}
	base := uint64(uintptr(unsafe.Pointer(&t.mem[0])))
	end := base + uint64(len(t.mem))
	if t.regions == nil {
		t.regions = make([]pageRegion, 512)
	}
	found := 0
	for start := base; start < end; {
		arg := pmScanArg{Size: uint64(unsafe.Sizeof(pmScanArg{})), Start: start, End: end,
			Vec: uint64(uintptr(unsafe.Pointer(&t.regions[0]))), VecLen: uint64(len(t.regions)),
			CategoryMask: pageIsWritten, ReturnMask: pageIsWritten, Flags: pmScanCheckWPAsync}
		if reset {
			arg.Flags |= pmScanWPMatching
		}
		n, err := ioctl(int(pm.Fd()), pagemapScan, unsafe.Pointer(&arg))
		if err != nil {
			return found, err
		}
		for _, r := range t.regions[:n] {
			found += int((r.End - r.Start) / uint64(t.osPage))
			if visit != nil {
				visit(int(r.Start-base), int(r.End-r.Start))
			}
		}
		if arg.WalkEnd <= start {
			break
		}
		start = arg.WalkEnd
	}
	return found, nil
}

func (t *writeTracker) close() {
	if t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
}
