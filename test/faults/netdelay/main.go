// netdelay: holds every packet of one NFQUEUE queue for a fixed time, then accepts it. This kernel has no netem
// qdisc, so the fault matrix adds latency between the lab's VMs this way: an iptables rule sends their bridged
// packets to the queue (br_netfilter passes them through FORWARD), and this program gives each its verdict
// `-delay` later, in arrival order. Plain netlink (NFNL_SUBSYS_QUEUE), standard library only.
//
//	netdelay -queue 7 -delay 100ms
//
// It exits on SIGTERM/SIGINT; the iptables rule's --queue-bypass lets packets through once nobody listens.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const (
	nfnlSubsysQueue    = 3
	nfqnlMsgPacket     = 0
	nfqnlMsgVerdict    = 1
	nfqnlMsgConfig     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaCfgMask        = 4
	nfqaCfgFlags       = 5
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	cmdBind            = 1
	copyMeta           = 1
	cfgFailOpen        = 1
	nfAccept           = 1
	nlmFRequest        = 1
	nlmFAck            = 4
	nlmsgError         = 2
)

type conn struct {
	fd    int
	queue uint16
	seq   uint32
	mu    sync.Mutex
}

func attr(typ uint16, value []byte) []byte {
	n := 4 + len(value)
	b := make([]byte, (n+3)&^3)
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], typ)
	copy(b[4:], value)
	return b
}

func (c *conn) send(msgType uint16, flags uint16, family uint8, attrs ...[]byte) error {
	body := []byte{family, 0, 0, 0} // nfgenmsg: family, version NFNETLINK_V0, res_id (big endian)
	binary.BigEndian.PutUint16(body[2:], c.queue)
	for _, a := range attrs {
		body = append(body, a...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	msg := make([]byte, 16, 16+len(body))
	binary.LittleEndian.PutUint32(msg[0:], uint32(16+len(body)))
	binary.LittleEndian.PutUint16(msg[4:], nfnlSubsysQueue<<8|msgType)
	binary.LittleEndian.PutUint16(msg[6:], nlmFRequest|flags)
	binary.LittleEndian.PutUint32(msg[8:], c.seq)
	msg = append(msg, body...)
	return syscall.Sendto(c.fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
}

func (c *conn) config(attrs ...[]byte) error {
	if err := c.send(nfqnlMsgConfig, nlmFAck, syscall.AF_UNSPEC, attrs...); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	n, _, err := syscall.Recvfrom(c.fd, buf, 0)
	if err != nil {
		return err
	}
	if n >= 20 && binary.LittleEndian.Uint16(buf[4:]) == nlmsgError {
		if code := int32(binary.LittleEndian.Uint32(buf[16:])); code != 0 {
			return syscall.Errno(-code)
		}
	}
	return nil
}

func (c *conn) verdict(id uint32) {
	v := make([]byte, 8)
	binary.BigEndian.PutUint32(v[0:], nfAccept)
	binary.BigEndian.PutUint32(v[4:], id)
	if err := c.send(nfqnlMsgVerdict, 0, syscall.AF_UNSPEC, attr(nfqaVerdictHdr, v)); err != nil {
		fmt.Fprintf(os.Stderr, "netdelay: verdict %d: %v\n", id, err)
	}
}

type held struct {
	id  uint32
	due time.Time
}

func main() {
	queue := flag.Uint("queue", 0, "NFQUEUE number")
	delay := flag.Duration("delay", 100*time.Millisecond, "how long each packet is held")
	flag.Parse()

	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_NETFILTER)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netdelay: netlink socket: %v\n", err)
		os.Exit(1)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 16<<20)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		fmt.Fprintf(os.Stderr, "netdelay: bind: %v\n", err)
		os.Exit(1)
	}
	c := &conn{fd: fd, queue: uint16(*queue)}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params[0:], 0)
	params[4] = copyMeta
	maxlen := make([]byte, 4)
	binary.BigEndian.PutUint32(maxlen, 16384)
	flags := make([]byte, 4)
	binary.BigEndian.PutUint32(flags, cfgFailOpen)
	steps := [][][]byte{
		{attr(nfqaCfgCmd, []byte{cmdBind, 0, 0, 0})},
		{attr(nfqaCfgParams, params)},
		{attr(nfqaCfgQueueMaxlen, maxlen)},
		{attr(nfqaCfgFlags, flags), attr(nfqaCfgMask, flags)},
	}
	for i, s := range steps {
		if err := c.config(s...); err != nil {
			fmt.Fprintf(os.Stderr, "netdelay: configuring queue %d (step %d): %v\n", *queue, i+1, err)
			os.Exit(1)
		}
	}

	pending := make(chan held, 65536)
	go func() {
		for h := range pending {
			if wait := time.Until(h.due); wait > 0 {
				time.Sleep(wait)
			}
			c.verdict(h.id)
		}
	}()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		// No unbind request: its answer would arrive on the socket the main loop reads, and waiting for it hung the
		// exit. Closing the socket (exit) unbinds the queue in the kernel; --queue-bypass lets packets through.
		<-stop
		os.Exit(0)
	}()
	fmt.Printf("netdelay: queue %d, delay %v: ready\n", *queue, *delay)

	buf := make([]byte, 1<<16)
	var count uint64
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == syscall.ENOBUFS || err == syscall.EINTR {
				continue
			}
			fmt.Fprintf(os.Stderr, "netdelay: receive: %v\n", err)
			os.Exit(1)
		}
		now := time.Now()
		for off := 0; off+16 <= n; {
			length := int(binary.LittleEndian.Uint32(buf[off:]))
			if length < 16 || off+length > n {
				break
			}
			typ := binary.LittleEndian.Uint16(buf[off+4:])
			if typ == nfnlSubsysQueue<<8|nfqnlMsgPacket {
				for a := off + 20; a+4 <= off+length; {
					alen := int(binary.LittleEndian.Uint16(buf[a:]))
					atyp := binary.LittleEndian.Uint16(buf[a+2:]) & 0x7fff
					if alen < 4 {
						break
					}
					if atyp == nfqaPacketHdr && alen >= 8 {
						pending <- held{id: binary.BigEndian.Uint32(buf[a+4:]), due: now.Add(*delay)}
						count++
					}
					a += (alen + 3) &^ 3
				}
			}
			off += (length + 3) &^ 3
		}
	}
}
