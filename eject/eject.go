// Package eject unmounts a card and powers it off the way a file manager's
// Eject does: through udisks2 on the system D-Bus (Filesystem.Unmount, then
// Drive.PowerOff, or Loop.Delete for a loop device), falling back to
// umount(2) when udisks is not there (or does not manage the mount) and the
// process is root.
//
// udisks authorizes the call with polkit: the desktop user may unmount what
// udisks mounted for them, and root anything. A card that stays busy (a
// file open on it) is not forced: Eject returns ErrBusy and the card stays
// mounted.
package eject

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/romsyncd/romsyncd/targetfs"
)

// Errors Eject wraps, for callers that act on them with errors.Is.
var (
	// ErrBusy: something still uses the card; it stays mounted.
	ErrBusy = errors.New("card is busy")
	// ErrNotMounted: nothing is mounted at the path.
	ErrNotMounted = errors.New("not a mount point")
	// ErrPowerOff: the card was unmounted (safe to remove) but its drive or
	// loop device was not powered off or detached: polkit may refuse power
	// off to a process outside the active login session (a user unit).
	ErrPowerOff = errors.New("unmounted, but not powered off")
	// ErrNoUdisks: udisks cannot eject the card and the process is not root.
	ErrNoUdisks = errors.New("udisks2 is not available (or does not manage this mount) and romsyncd is not root")
)

// Method is how a card was ejected.
type Method string

// The methods of Eject.
const (
	Udisks Method = "udisks2"
	Umount Method = "umount"
)

// Result says what Eject did.
type Result struct {
	Method Method
	Device string // "/dev/sdb1", "/dev/loop3"; "" after a plain umount
	// PoweredOff: udisks powered the drive off (a USB card reader); the card
	// can be pulled and the reader's light goes out.
	PoweredOff bool
	// LoopDeleted: the card was an image on a loop device, now detached.
	LoopDeleted bool
}

// udisks2 on the system bus.
const (
	udisksService = "org.freedesktop.UDisks2"
	udisksPath    = "/org/freedesktop/UDisks2"
	ifaceBlock    = udisksService + ".Block"
	ifaceFS       = udisksService + ".Filesystem"
	ifaceLoop     = udisksService + ".Loop"
	ifaceDrive    = udisksService + ".Drive"
	errBusyName   = udisksService + ".Error.DeviceBusy"
)

// Eject unmounts the filesystem mounted at mountPoint and powers its drive
// off. It tries udisks2 on the system bus first ($DBUS_SYSTEM_BUS_ADDRESS,
// else /run/dbus/system_bus_socket), then umount(2) as root.
func Eject(ctx context.Context, mountPoint string) (Result, error) {
	mp, err := filepath.Abs(mountPoint)
	if err != nil {
		return Result{}, fmt.Errorf("eject %s: %w", mountPoint, err)
	}
	if r, err := filepath.EvalSymlinks(mp); err == nil {
		mp = r
	}
	res, err := viaUdisks(ctx, mp)
	if err == nil || !errors.Is(err, errNoUdisks) {
		return res, err
	}
	if os.Geteuid() != 0 {
		return Result{}, fmt.Errorf("eject %s: %w (%v)", mp, ErrNoUdisks, err)
	}
	return viaUmount(mp)
}

// errNoUdisks: udisks cannot do it (no bus, no udisks, no object for the
// mount); the caller may fall back to umount.
var errNoUdisks = errors.New("no udisks")

// viaUdisks ejects through udisks2.
func viaUdisks(ctx context.Context, mp string) (Result, error) {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return Result{}, fmt.Errorf("%w: system bus: %v", errNoUdisks, err)
	}
	defer conn.Close()
	dev, err := findDevice(ctx, conn, mp)
	if err != nil {
		return Result{}, err
	}
	res := Result{Method: Udisks, Device: dev.device}
	obj := conn.Object(udisksService, dev.path)
	// Never ask polkit to prompt the user: a daemon has nobody to answer.
	noOptions := map[string]dbus.Variant{"auth.no_user_interaction": dbus.MakeVariant(true)}
	if err := obj.CallWithContext(ctx, ifaceFS+".Unmount", 0, noOptions).Err; err != nil {
		var de dbus.Error
		if errors.As(err, &de) && de.Name == errBusyName {
			return res, fmt.Errorf("eject %s: %w: %s", mp, ErrBusy, de.Error())
		}
		return res, fmt.Errorf("eject %s: unmount %s through udisks2: %w", mp, dev.device, err)
	}
	switch {
	case dev.loop:
		if err := obj.CallWithContext(ctx, ifaceLoop+".Delete", 0, noOptions).Err; err != nil {
			return res, fmt.Errorf("eject %s: %w: detach loop device %s: %w", mp, ErrPowerOff, dev.device, err)
		}
		res.LoopDeleted = true
	case dev.drive != "/" && dev.canPowerOff:
		if err := conn.Object(udisksService, dev.drive).CallWithContext(ctx, ifaceDrive+".PowerOff", 0, noOptions).Err; err != nil {
			return res, fmt.Errorf("eject %s: %w: power off %s: %w", mp, ErrPowerOff, dev.device, err)
		}
		res.PoweredOff = true
	}
	return res, nil
}

// device is the udisks object of a mounted filesystem.
type device struct {
	path        dbus.ObjectPath
	device      string
	loop        bool
	drive       dbus.ObjectPath
	canPowerOff bool
}

// managed is GetManagedObjects' answer: object → interface → property.
type managed = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

// findDevice returns the udisks block device whose filesystem is mounted at
// mp.
func findDevice(ctx context.Context, conn *dbus.Conn, mp string) (device, error) {
	var objs managed
	err := conn.Object(udisksService, udisksPath).CallWithContext(ctx,
		"org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return device{}, fmt.Errorf("%w: %v", errNoUdisks, err)
	}
	for _, p := range slices.Sorted(maps.Keys(objs)) {
		ifaces := objs[p]
		fs, ok := ifaces[ifaceFS]
		if !ok || !mountedAt(fs["MountPoints"], mp) {
			continue
		}
		d := device{path: p}
		_, d.loop = ifaces[ifaceLoop]
		blk := ifaces[ifaceBlock]
		if v, ok := blk["Device"].Value().([]byte); ok {
			d.device = cString(v)
		}
		if v, ok := blk["Drive"].Value().(dbus.ObjectPath); ok {
			d.drive = v
		}
		if drv, ok := objs[d.drive][ifaceDrive]; ok {
			d.canPowerOff, _ = drv["CanPowerOff"].Value().(bool)
		}
		return d, nil
	}
	return device{}, fmt.Errorf("%w: udisks2 manages no filesystem mounted at %s", errNoUdisks, mp)
}

// mountedAt reports whether a Filesystem.MountPoints value (aay: paths as
// NUL-terminated bytes) holds mp.
func mountedAt(v dbus.Variant, mp string) bool {
	points, _ := v.Value().([][]byte)
	for _, b := range points {
		if cString(b) == mp {
			return true
		}
	}
	return false
}

func cString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// viaUmount unmounts mp with umount(2), as root without udisks. A FUSE
// card's process exits on its own once unmounted; its loop device is freed
// by the kernel (autoclear) or stays attached to be reused.
func viaUmount(mp string) (Result, error) {
	if !isMountPoint(mp) {
		return Result{}, fmt.Errorf("eject %s: %w", mp, ErrNotMounted)
	}
	if err := unix.Unmount(mp, 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return Result{Method: Umount}, fmt.Errorf("eject %s: %w: a file or folder on it is open", mp, ErrBusy)
		}
		return Result{Method: Umount}, fmt.Errorf("eject %s: umount: %w", mp, err)
	}
	return Result{Method: Umount}, nil
}

// isMountPoint reports whether a filesystem is mounted at exactly mp.
func isMountPoint(mp string) bool {
	m, err := targetfs.MountOf(mp)
	return err == nil && m.MountPoint == mp && mp != "/"
}
