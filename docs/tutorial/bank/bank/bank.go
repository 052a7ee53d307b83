// Package bank is a reliable server: accounts and their balances. It has
// no failure-handling code; the node keeps its state through crashes.
package bank

import (
	"errors"

	"github.com/ftm-in-go/ftm/servers"
)

// Name is the server's name: a node runs one on each STM bank it holds,
// called BANK/bank.
const Name = "bank"

// Accounts is the server's whole state, in plain Go.
type Accounts struct {
	Balances map[string]int64 // cents, by account
}

// Move is the argument of a deposit or a withdrawal.
type Move struct {
	Account string
	Cents   int64
}

// The errors the operations declare: a client gets them back as
// themselves (errors.Is), on any node.
var (
	ErrAmount       = errors.New("the amount must be positive")
	ErrInsufficient = errors.New("insufficient funds")
)

// The operations, each declared once for the server and its clients.
var (
	Deposit  = servers.NewMethod[Move, int64]("deposit", servers.Update, ErrAmount)
	Withdraw = servers.NewMethod[Move, int64]("withdraw", servers.Update, ErrAmount, ErrInsufficient)
	Balance  = servers.NewMethod[string, int64]("balance", servers.Read)
)

// New builds the server; the node calls it for each bank it runs.
func New(cfg servers.Config) (*servers.Server[Accounts], error) {
	srv, err := servers.NewServer(cfg, func() Accounts {
		return Accounts{Balances: map[string]int64{}}
	})
	if err != nil {
		return nil, err
	}
	servers.Handle(srv, Deposit, func(_ *servers.Call, s *Accounts, m Move) (int64, error) {
		if m.Cents <= 0 {
			return 0, ErrAmount
		}
		s.Balances[m.Account] += m.Cents
		return s.Balances[m.Account], nil
	})
	servers.Handle(srv, Withdraw, func(_ *servers.Call, s *Accounts, m Move) (int64, error) {
		switch {
		case m.Cents <= 0:
			return 0, ErrAmount
		case s.Balances[m.Account] < m.Cents:
			return 0, ErrInsufficient
		}
		s.Balances[m.Account] -= m.Cents
		return s.Balances[m.Account], nil
	})
	servers.Handle(srv, Balance, func(_ *servers.Call, s *Accounts, account string) (int64, error) {
		return s.Balances[account], nil
	})
	return srv, nil
}
