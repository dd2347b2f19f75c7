//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// QEMU user networking (slirp) defaults, as seen from inside the guest. They
// are addresses of QEMU's own user-mode stack, not of a real network.
var (
	userNetAddr    = netip.MustParseAddr("10.0.2.15")
	userNetMask    = netip.MustParseAddr("255.255.255.0")
	userNetGateway = netip.MustParseAddr("10.0.2.2")
)

const userNetDNS = "10.0.2.3"

// setupUserNet configures eth0 for QEMU user networking and writes
// /etc/resolv.conf.
func setupUserNet() error {
	if err := setIfAddr("eth0", unix.SIOCSIFADDR, userNetAddr); err != nil {
		return err
	}
	if err := setIfAddr("eth0", unix.SIOCSIFNETMASK, userNetMask); err != nil {
		return err
	}
	if err := linkUp("eth0"); err != nil {
		return err
	}
	if err := addDefaultRoute(userNetGateway); err != nil {
		return err
	}
	return os.WriteFile("/etc/resolv.conf", []byte("nameserver "+userNetDNS+"\n"), 0o644)
}

// linkUp sets IFF_UP on the named interface.
func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("%s: set flags: %w", name, err)
	}
	return nil
}

// setIfAddr sets an IPv4 address or netmask (req) on the named interface.
func setIfAddr(name string, req uint, a netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	b := a.As4()
	if err := ifr.SetInet4Addr(b[:]); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, req, ifr); err != nil {
		return fmt.Errorf("%s: set %v: %w", name, a, err)
	}
	return nil
}

// addDefaultRoute adds "default via gw" with one rtnetlink request.
func addDefaultRoute(gw netip.Addr) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer unix.Close(fd)
	const attrLen = unix.SizeofRtAttr + 4
	msg := make([]byte, unix.SizeofNlMsghdr+unix.SizeofRtMsg+attrLen)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.RTM_NEWROUTE)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	ne.PutUint32(msg[8:], 1) // sequence number
	rt := msg[unix.SizeofNlMsghdr:]
	rt[0] = unix.AF_INET
	rt[4] = unix.RT_TABLE_MAIN
	rt[5] = unix.RTPROT_BOOT
	rt[6] = unix.RT_SCOPE_UNIVERSE
	rt[7] = unix.RTN_UNICAST
	attr := rt[unix.SizeofRtMsg:]
	ne.PutUint16(attr[0:], attrLen)
	ne.PutUint16(attr[2:], unix.RTA_GATEWAY)
	g := gw.As4()
	copy(attr[4:], g[:])
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	ack := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, ack, 0)
	if err != nil {
		return fmt.Errorf("netlink receive: %w", err)
	}
	if n >= unix.SizeofNlMsghdr+4 && ne.Uint16(ack[4:]) == unix.NLMSG_ERROR {
		if code := int32(ne.Uint32(ack[unix.SizeofNlMsghdr:])); code != 0 {
			return fmt.Errorf("default route via %v: %w", gw, unix.Errno(-code))
		}
	}
	return nil
}
