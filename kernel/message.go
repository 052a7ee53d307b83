package kernel

import "sync"

var messagePool = sync.Pool{New: func() any { return new(Message) }}

// NewMessage returns an empty message, recycled from messages given back
// with Free when there are any. Using NewMessage and Free on a hot path
// makes sending and receiving allocation-free; plain &Message{} works too.
func NewMessage() *Message { return messagePool.Get().(*Message) }

// Free gives a message back for reuse once its receiver (or a sender whose
// Send failed) is done with it. m, and the slices it pointed to, must not be
// used afterwards. Freeing a message that was sent successfully is a bug:
// it belongs to the kernel and then to its receiver.
func (m *Message) Free() {
	if m == nil {
		return
	}
	*m = Message{}
	messagePool.Put(m)
}
