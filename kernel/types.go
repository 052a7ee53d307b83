package kernel

import "fmt"

// Name is a task-local name for a right (Mach's mach_port_name_t).
type Name uint32

// NameNull names nothing.
const NameNull Name = 0

// Disposition says what happens to a right named in a message (Mach's
// MACH_MSG_TYPE_*). The zero value, DispAuto, picks the natural one: copy a
// send right, move a send-once right, make a send-once right from a receive
// right for a reply port and a send right for a carried right.
type Disposition uint8

// Dispositions.
const (
	DispAuto     Disposition = iota
	MoveReceive              // the receive right leaves the sender
	MoveSend                 // one send reference leaves the sender
	CopySend                 // the sender keeps its send right; a new one travels
	MakeSend                 // a send right is made from the sender's receive right
	MoveSendOnce             // the sender's send-once right travels
	MakeSendOnce             // a send-once right is made from the sender's receive right
)

func (d Disposition) String() string {
	switch d {
	case DispAuto:
		return "auto"
	case MoveReceive:
		return "move-receive"
	case MoveSend:
		return "move-send"
	case CopySend:
		return "copy-send"
	case MakeSend:
		return "make-send"
	case MoveSendOnce:
		return "move-send-once"
	case MakeSendOnce:
		return "make-send-once"
	}
	return fmt.Sprintf("disposition(%d)", uint8(d))
}

// RightType is a kind of right a name can denote.
type RightType uint8

// Right types, also the kinds a received right arrives as.
const (
	RightNone RightType = iota
	RightReceive
	RightSend
	RightSendOnce
	RightDeadName
	RightPortSet
)

func (r RightType) String() string {
	return [...]string{"none", "receive", "send", "send-once", "dead-name", "port-set"}[min(int(r), 5)]
}

// PortRight is a right carried in a message: on send, a name in the
// sender's space and what to do with it; on receive, the name the right got
// in the receiver's space and its type.
type PortRight struct {
	Name Name
	Disp Disposition // on send
	Type RightType   // on receive
}

// Message is a port message. On Send, Dest and Reply name rights in the
// sender's space. On Receive, Dest is the name of the receive right the
// message arrived on, Reply names the reply right now held by the receiver
// (ReplyType says which), and Rights carry their new names.
//
// After Send succeeds the message, its Body and OOL regions belong to the
// kernel and then to the receiver: the sender must not touch them again.
type Message struct {
	Dest      Name
	DestDisp  Disposition // CopySend (default) or MoveSend/MoveSendOnce
	Reply     Name
	ReplyDisp Disposition
	ID        uint32 // the operation, chosen by the protocol
	RU        uint64 // the sender's recovery-unit id (servers use it for dependency tracking)
	// SenderID and SenderSeq number the messages of a published sender
	// (publishing.txt §3.2: per-sender sequence numbers), so a recorder
	// can drop one a recovering sender sends twice; zero otherwise. The
	// kernel carries them unchanged, across nodes too.
	SenderID  uint64
	SenderSeq uint64
	Body      []byte // inline data
	Rights    []PortRight
	OOL       [][]byte // out-of-line regions, handed over without a copy inside a node

	// Set on receive.
	ReplyType RightType
	Seqno     uint64 // the port's sequence number for this message

	// In transit: the rights the message holds while it sits in a queue.
	dst      *port
	destKind RightType // the destination right the message consumes
	rep      xright
	xrs      []xright
	next     *Message // free-list / queue link (unused outside the kernel)
}

// xright is a right in transit.
type xright struct {
	p    *port
	kind RightType // RightReceive, RightSend or RightSendOnce
}

// PortStatus describes a port as its receiver sees it.
type PortStatus struct {
	QueueLen   int
	QueueLimit int
	Seqno      uint64 // sequence number the next received message gets
	SendRights int    // send rights in existence (held and in transit)
	SendOnce   int    // send-once rights in existence
	InSet      bool
	Remote     bool // a proxy for a port on another node
}

// NameInfo describes what a task holds under one name.
type NameInfo struct {
	Name     Name
	Type     RightType // the strongest right under the name
	Receive  bool
	SendRefs uint32
	SendOnce bool
	DeadRefs uint32
	Members  int // port sets: number of member ports
}
