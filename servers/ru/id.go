package ru

import "fmt"

// ID names a recovery unit: the process name plus its incarnation. Every
// commit or abort starts a new incarnation, so re-executions are told apart.
type ID struct {
	Name string
	Inc  uint64
}

func (id ID) String() string { return fmt.Sprintf("%s.%d", id.Name, id.Inc) }

// Less orders IDs by incarnation, then name: the smallest ID wins a merge.
// Ordering by incarnation first ages a cancelled initiator: it keeps its
// incarnation while winners move on, so it eventually wins (no starvation).
func (id ID) Less(o ID) bool {
	if id.Inc != o.Inc {
		return id.Inc < o.Inc
	}
	return id.Name < o.Name
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id.Name == "" }

// Action names one attempt of an atomic action: its initiator's RU and an
// attempt number (a cancelled checkpoint is retried under a new Seq).
type Action struct {
	Root ID
	Seq  uint64
}

func (a Action) String() string { return fmt.Sprintf("%s#%d", a.Root, a.Seq) }

// Less orders actions by initiator, then attempt.
func (a Action) Less(o Action) bool {
	if a.Root != o.Root {
		return a.Root.Less(o.Root)
	}
	return a.Seq < o.Seq
}

// IsZero reports whether a is unset.
func (a Action) IsZero() bool { return a.Root.IsZero() }

// Outcome is how a recovery unit (or an action) ended.
type Outcome uint8

const (
	Pending Outcome = iota
	Committed
	Aborted
	Cancelled
)

func (o Outcome) String() string {
	return [...]string{"pending", "committed", "aborted", "cancelled"}[o]
}

// Op is the attribute the programmer gives each server operation (§4.1).
type Op uint8

const (
	Read Op = iota
	Update
)

func (o Op) String() string {
	if o == Update {
		return "update"
	}
	return "read"
}

// Deps is the dependency one call creates at its own level.
type Deps struct {
	ServerToClient bool // server → client: the client is the server's successor
	ClientToServer bool // client → server: the server is the client's successor
}

// CallDeps applies the rules of §4.1 to one call level. Attributes are not
// propagated through nested calls: each level calls CallDeps on its own.
//   - update: both directions;
//   - read of state modified in the server's current RU: server → client;
//   - read of unmodified (persistent) state: none.
func CallDeps(op Op, serverModified bool) Deps {
	switch {
	case op == Update:
		return Deps{ServerToClient: true, ClientToServer: true}
	case serverModified:
		return Deps{ServerToClient: true}
	}
	return Deps{}
}
