package pstest

import (
	"container/heap"
	"time"
)

// The simulator's clock, and the expiry of requests and sessions on it.

// ---- clock ----

func (st *state) now() time.Time {
	if st.realClock {
		return st.clockBase.Add(time.Since(st.realStart) + st.offset)
	}
	return st.clockBase.Add(st.offset)
}

// Now is the simulator's clock. It starts at the wall time of NewServer
// (whole seconds, UTC) and moves only with Advance, unless UseRealClock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.now()
}

// Advance moves the clock forward by d and expires every request (and
// session, lazily) whose time is up, rotating credentials as a check-in would.
func (s *Server) Advance(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.offset += d
	s.st.sweep(s.st.now())
}

// UseRealClock makes the clock follow wall time from now on (Advance still
// adds to it). cmd/passwordsafe-sim uses it so leases and checkouts expire
// in real time.
func (s *Server) UseRealClock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.realClock {
		return
	}
	now := time.Now()
	s.st.clockBase = s.st.now()
	if wall := now.UTC(); wall.After(s.st.clockBase) {
		s.st.clockBase = wall // catch up with the wall clock; never go back
	}
	s.st.offset = 0
	s.st.realStart = now
	s.st.realClock = true
}

// ---- expiry ----

type expiry struct {
	at time.Time
	id int
}

type expiryHeap []expiry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].id < h[j].id
	}
	return h[i].at.Before(h[j].at)
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sweep ends every open request whose ExpiresAt has come. O(log n) per
// expired request, O(1) when nothing is due.
func (st *state) sweep(now time.Time) {
	for st.expiries.Len() > 0 && !st.expiries[0].at.After(now) {
		e := heap.Pop(&st.expiries).(expiry)
		r := st.reqs[e.id]
		if r == nil || !r.open() || !r.st.ExpiresAt.Equal(e.at) {
			continue // stale entry: ended earlier, or approved and rescheduled
		}
		st.end(r, StatusExpired, e.at, "")
	}
}

func (st *state) schedule(r *request) {
	heap.Push(&st.expiries, expiry{at: r.st.ExpiresAt, id: r.st.ID})
}

// end closes an open request. A request whose credential was released
// (active) rotates the account's password when its RotateOnCheckin says so
// and the account rotates at all.
func (st *state) end(r *request, status string, at time.Time, reason string) {
	wasActive := r.st.Status == StatusActive
	r.st.Status = status
	t := at
	r.st.EndedAt = &t
	r.st.CheckinReason = reason
	delete(r.acct.open, r.st.ID)
	if m := st.openByUser[r.user.key]; m != nil {
		delete(m, r.st.ID)
	}
	if wasActive && r.st.RotateOnCheckin && !r.acct.DisableRotation {
		r.acct.password = newPassword()
		r.acct.lastChange = at
	}
	st.ended++
	if st.ended > st.history+st.history/4 {
		st.forgetOldEnded()
	}
}

// forgetOldEnded drops the oldest ended requests down to the history limit,
// so that long soak runs keep a bounded memory. Amortised O(1) per request.
func (st *state) forgetOldEnded() {
	drop := st.ended - st.history
	kept := st.reqOrder[:0]
	for _, r := range st.reqOrder {
		if drop > 0 && !r.open() {
			delete(st.reqs, r.st.ID)
			drop--
			st.ended--
			continue
		}
		kept = append(kept, r)
	}
	clear(st.reqOrder[len(kept):])
	st.reqOrder = kept
}
