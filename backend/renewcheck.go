package backend

import (
	"context"
	"sync"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
)

// Renew checks shared by concurrent renews. Every renew asks Password Safe
// whether its request is still open (GET Requests: one run-as user's open
// requests). An Agent fleet on one reuse role renews many leases of the same
// request through the same session, so at a real Password Safe's tens of
// milliseconds per call the renews overlap, and each asked the same
// question of its own.
//
// Renews that arrive while a GET Requests of their session is under way
// wait for it to finish and then share the next one: a group commit. So an
// answer never predates the renew it serves (the call it gets started after
// it arrived: a check-in made in Password Safe before a renew is always
// seen), and a session makes at most one call at a time for its renews,
// however many arrive. Nothing is kept once a call's waiters have their
// answer.
type renewChecks struct {
	mu    sync.Mutex
	slots map[*client.Client]*renewSlot
}

// renewSlot is one session's: whether a call runs, and the batch of renews
// waiting for the call after it.
type renewSlot struct {
	running bool
	next    *renewBatch
}

type renewBatch struct {
	done chan struct{}
	reqs []client.Request // read-only once done is closed
	err  error
}

// renewListTimeout bounds one shared call; the client's own request timeout
// and retries normally end it much sooner.
const renewListTimeout = 2 * time.Minute

// list is cl.ListRequests(ctx, "all", "") from a call that started after
// list was called, shared with the renews of the same session that wait
// for the same call.
func (g *renewChecks) list(ctx context.Context, cl *client.Client) ([]client.Request, error) {
	g.mu.Lock()
	if g.slots == nil {
		g.slots = map[*client.Client]*renewSlot{}
	}
	sl := g.slots[cl]
	if sl == nil {
		sl = &renewSlot{}
		g.slots[cl] = sl
	}
	if sl.next == nil {
		sl.next = &renewBatch{done: make(chan struct{})}
	}
	bt := sl.next
	if !sl.running {
		sl.running = true
		go g.run(cl, sl)
	}
	g.mu.Unlock()
	select {
	case <-bt.done:
		return bt.reqs, bt.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run makes the session's calls, one batch after the other, until no renew
// waits. It runs on a context of its own: one renew giving up (its caller
// went away) must not fail the others sharing the call.
func (g *renewChecks) run(cl *client.Client, sl *renewSlot) {
	for {
		g.mu.Lock()
		bt := sl.next
		if bt == nil {
			sl.running = false
			delete(g.slots, cl)
			g.mu.Unlock()
			return
		}
		sl.next = nil
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), renewListTimeout)
		bt.reqs, bt.err = cl.ListRequests(ctx, "all", "")
		cancel()
		close(bt.done)
	}
}

// findShared is findRequest through the shared renew checks.
func (g *renewChecks) findShared(ctx context.Context, cl *client.Client, id int) (client.Request, bool, error) {
	reqs, err := g.list(ctx, cl)
	if err != nil {
		return client.Request{}, false, err
	}
	r, found := requestIn(reqs, id)
	return r, found, nil
}
