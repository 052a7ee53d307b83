// Command banknode is one node of a stable pair carrying the bank server
// and the savings program: `ftmctl pair up --exec ./banknode` starts two.
package main

import (
	"github.com/ftm-in-go/ftm/node"

	"example.com/bank/bank"
	"example.com/bank/savings"
)

func main() {
	node.Main(
		node.Server(bank.Name, bank.New,
			node.Op(bank.Deposit), node.Op(bank.Withdraw), node.Op(bank.Balance)),
		node.Program("savings", savings.Run).WithArgs(savings.Args),
	)
}
