package backend_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client"
	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// ---- operations ----

func (s *sim) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := s.rng.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (s *sim) liveLeases() []*simLease {
	now := s.srv.Now()
	var out []*simLease
	for _, l := range s.leases {
		if l.live(now) {
			out = append(out, l)
		}
	}
	return out
}

func (s *sim) step(i int) {
	s.faultMu.Lock()
	s.faulted = false
	s.lookupFails = 0 // a burst of failed look-ups stays within its operation
	if s.outage > 0 {
		s.outage--
		if s.outage == 0 {
			s.logf("outage ends")
		}
	}
	s.faultMu.Unlock()

	op := s.pick(
		30, // 0 checkout
		5,  // 1 requests write (no wait)
		8,  // 2 claim
		10, // 3 renew
		10, // 4 revoke
		3,  // 5 revoke a token's leases
		6,  // 6 approve
		2,  // 7 deny
		3,  // 8 operator check-in through the mount
		2,  // 9 check-in by a person in Password Safe
		4,  // 10 foreign request
		3,  // 11 foreign check-in
		10, // 12 clock: minutes
		2,  // 13 clock: hours
		6,  // 14 rollback tick
		4,  // 15 rollback past the WAL age
		2,  // 16 outage
		1,  // 17 unreachable url / restore
		1,  // 18 config delete / restore
		5,  // 19 crash during the next operation
		1,  // 20 settle
	)
	switch op {
	case 0:
		s.checkout(false, nil)
	case 1:
		s.checkout(true, nil)
	case 2:
		s.claim(nil)
	case 3:
		s.renew()
	case 4:
		if ls := s.liveLeases(); len(ls) > 0 {
			s.revoke(ls[s.rng.IntN(len(ls))], "revoke")
		}
	case 5:
		c := s.callers[s.rng.IntN(len(s.callers))]
		s.logf("token of %s revoked", c.name)
		for _, l := range s.liveLeases() {
			if l.caller == c {
				s.revoke(l, "token revoke")
			}
		}
	case 6, 7:
		s.approveOrDeny(op == 6)
	case 8:
		s.operatorCheckin()
	case 9:
		s.outsideCheckin()
	case 10:
		s.foreignRequest()
	case 11:
		s.foreignCheckin()
	case 12:
		s.advance(time.Duration(30+s.rng.IntN(600)) * time.Second)
	case 13:
		s.advance(time.Duration(30+s.rng.IntN(180)) * time.Minute)
	case 14:
		s.rollback(false)
	case 15:
		s.rollback(true)
	case 16:
		s.faultMu.Lock()
		s.outage = 5 + s.rng.IntN(40)
		s.faultMu.Unlock()
		s.logf("outage starts for %d operations", s.outage)
	case 17:
		if s.badURL {
			s.badURL = !s.writeConfig(s.srv.URL)
		} else {
			s.badURL = s.writeConfig("http://127.0.0.1:1/BeyondTrust/api/public/v3")
		}
	case 18:
		if s.noConfig {
			s.noConfig = !s.writeConfig(s.srv.URL)
			s.badURL = s.badURL && s.noConfig
		} else {
			resp, err := s.do(s.req(logical.DeleteOperation, "config", nil, nil))
			s.noConfig = err == nil && (resp == nil || !resp.IsError())
			s.logf("config delete -> ok=%v %v", s.noConfig, errText(resp, err))
		}
	case 19:
		s.crashDuring()
	case 20:
		s.settle()
	}
	s.vaultTick()
	s.check()
}

// crashDuring runs one engine operation that dies after a random number of
// effects, then starts the plugin again on the same storage, as Vault does.
func (s *sim) crashDuring() {
	s.cp.mu.Lock()
	s.cp.armed, s.cp.left, s.cp.afterSend = true, s.rng.IntN(12), s.rng.IntN(2) == 0
	s.cp.mu.Unlock()
	s.logf("crash armed")
	switch s.pick(6, 2, 3, 2, 2) {
	case 0:
		s.checkout(false, nil)
	case 1:
		s.checkout(true, nil)
	case 2:
		if ls := s.liveLeases(); len(ls) > 0 {
			s.revoke(ls[s.rng.IntN(len(ls))], "revoke")
		}
	case 3:
		s.claim(nil)
	case 4:
		s.rollback(s.rng.IntN(2) == 0)
	}
	if s.cp.dead() {
		s.stats.crashes.Add(1)
		s.logf("plugin crashed; restarted")
		s.newBackend()
	} else {
		s.cp.mu.Lock()
		s.cp.armed = false
		s.cp.mu.Unlock()
	}
}

func (s *sim) checkout(noWait bool, c *simCaller) {
	if c == nil {
		c = s.callers[s.rng.IntN(len(s.callers))]
	}
	role := simRoles[s.rng.IntN(len(simRoles))]
	var r *logical.Request
	if noWait {
		role = simRoles[4+s.rng.IntN(3)] // the approval roles
		r = s.req(logical.UpdateOperation, "requests", map[string]interface{}{"role": role.name}, c)
	} else {
		r = s.req(logical.ReadOperation, "creds/"+role.name, nil, c)
	}
	resp, err := s.do(r)
	s.lastOp, s.lastBy = "checkout", c
	switch {
	case err != nil || (resp != nil && resp.IsError()):
		s.logf("%s %s by %s -> %s", r.Operation, r.Path, c.name, errText(resp, err))
		s.failedOn[c.name+"/"+strconv.Itoa(role.account)] = true
	case resp != nil && resp.Secret != nil:
		s.gotLease(resp, c, role.account, r.Path)
	case resp != nil:
		id, _ := intOf(resp.Data["request_id"])
		s.logf("%s %s by %s -> request %d %v", r.Operation, r.Path, c.name, id, resp.Data["status"])
		if id > 0 {
			s.pending = append(s.pending, &simPending{requestID: id, caller: c, account: role.account})
		}
	}
}

// gotLease registers a lease as Vault does, and checks I4's credential half.
func (s *sim) gotLease(resp *logical.Response, c *simCaller, account int, path string) {
	id := requestIDOf(resp)
	s.nLease++
	s.stats.leases.Add(1)
	l := &simLease{id: fmt.Sprintf("%s%s/%d", testMount, path, s.nLease), requestID: id, account: account, caller: c,
		expireAt: s.srv.Now().Add(resp.Secret.TTL)}
	l.secret = stored(resp.Secret, l.id)
	s.leases = append(s.leases, l)
	pw, _ := resp.Data["password"].(string)
	s.secrets[pw] = true
	s.logf("%s by %s -> lease %s on request %d ttl %s", path, c.name, l.id, id, resp.Secret.TTL)
	if want := s.srv.Inspect().Password(account); pw != want {
		s.violate("I4-credential", "%s handed out a password that is not account %d's current one", path, account)
	}
	rs, ok := s.srv.Inspect().Request(id)
	switch {
	case !ok:
		s.violate("I4-credential", "lease on request %d that Password Safe does not know", id)
	case rs.Status != pstest.StatusActive:
		s.violate("I4-credential", "lease on request %d whose status is %s", id, rs.Status)
	case rs.AccountID != account:
		s.violate("I4-credential", "lease for account %d on request %d of account %d", account, id, rs.AccountID)
	case s.foreignR[id]:
		s.violate("I4-foreign", "the mount handed out request %d that a person made outside Vault", id)
	}
	// A same-caller hand-over may have ended this caller's previous request.
	for _, o := range s.leases {
		if o != l && o.requestID != id && o.account == account && o.live(s.srv.Now()) && !o.endedOK {
			if rs, ok := s.srv.Inspect().Request(o.requestID); ok && rs.Status == pstest.StatusCheckedIn && rs.CheckinReason == "renewed" && o.caller.sameToEngine(c) {
				o.endedOK = true
			}
		}
	}
}

func (s *sim) claim(c *simCaller) {
	if len(s.pending) == 0 {
		return
	}
	i := s.rng.IntN(len(s.pending))
	p := s.pending[i]
	if c == nil {
		c = p.caller
		if s.rng.IntN(5) == 0 {
			c = s.callers[s.rng.IntN(len(s.callers))]
		}
	}
	path := fmt.Sprintf("requests/%d/creds", p.requestID)
	resp, err := s.do(s.req(logical.ReadOperation, path, nil, c))
	if err != nil || resp == nil || resp.Secret == nil {
		s.logf("claim %d by %s (made by %s) -> %s", p.requestID, c.name, p.caller.name, errText(resp, err))
		if rs, ok := s.srv.Inspect().Request(p.requestID); ok && rs.Status != pstest.StatusPending && rs.Status != pstest.StatusActive {
			s.pending = append(s.pending[:i], s.pending[i+1:]...) // ended: nobody can claim it
		}
		return
	}
	mine := -1
	for j, q := range s.pending {
		if q.requestID == p.requestID && q.caller == c {
			mine = j
		}
	}
	if mine < 0 && s.failedOn[c.name+"/"+strconv.Itoa(p.account)] {
		// c's own checkout on the account failed after the engine recorded
		// its pending claim (a crash, a lost answer): the claim is c's.
		s.logf("claim %d by %s: its own failed checkout's pending claim", p.requestID, c.name)
		s.gotLease(resp, c, p.account, path)
		return
	}
	if mine < 0 {
		s.violate("I4-claim", "request %d made by %s was claimed by %s, who holds no pending claim on it", p.requestID, p.caller.name, c.name)
		return
	}
	s.pending = append(s.pending[:mine], s.pending[mine+1:]...)
	s.gotLease(resp, c, p.account, path)
}

func (s *sim) renew() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	r := s.req(logical.RenewOperation, "creds/x", nil, l.caller)
	r.Secret = stored(l.secret, l.id)
	resp, err := s.do(r)
	if err != nil || resp == nil || resp.Secret == nil {
		s.logf("renew %s -> %s", l.id, errText(resp, err))
		return
	}
	now := s.srv.Now()
	l.expireAt = now.Add(resp.Secret.TTL)
	s.logf("renew %s -> ttl %s", l.id, resp.Secret.TTL)
	rs, ok := s.srv.Inspect().Request(l.requestID)
	if !ok || rs.Status != pstest.StatusActive {
		s.faultMu.Lock()
		faulted := s.faulted
		s.faultMu.Unlock()
		if !faulted {
			st := "unknown"
			if ok {
				st = rs.Status
			}
			s.violate("I3-renew", "renew of %s succeeded although its request %d is %s", l.id, l.requestID, st)
		}
	}
}

// revoke is Vault revoking a lease; a failure is retried later, and after
// vaultRevokeTries failures Vault gives up (the lease is irrevocable).
func (s *sim) revoke(l *simLease, why string) {
	r := s.req(logical.RevokeOperation, "creds/x", nil, nil)
	r.Secret = stored(l.secret, l.id)
	resp, err := s.do(r)
	if err != nil || (resp != nil && resp.IsError()) {
		l.revoking = true
		l.revokeTries++
		l.nextRevoke = s.srv.Now().Add(time.Duration(1<<min(l.revokeTries, 6)) * 10 * time.Second)
		if l.revokeTries >= vaultRevokeTries {
			l.irrevocable = true
		}
		s.logf("%s %s (request %d) failed (try %d, irrevocable=%v): %s", why, l.id, l.requestID, l.revokeTries, l.irrevocable, errText(resp, err))
		return
	}
	s.logf("%s %s (request %d) ok", why, l.id, l.requestID)
	s.dropLease(l)
}

// vaultRevokeTries is how often Vault's expiration manager tries a revoke
// before it marks the lease irrevocable.
const vaultRevokeTries = 6

func (s *sim) dropLease(l *simLease) {
	for i, o := range s.leases {
		if o == l {
			s.leases = append(s.leases[:i], s.leases[i+1:]...)
			return
		}
	}
}

// vaultTick is Vault's expiration manager: expired leases are revoked,
// failed revokes retried.
func (s *sim) vaultTick() {
	now := s.srv.Now()
	for _, l := range append([]*simLease(nil), s.leases...) {
		switch {
		case l.irrevocable:
		case l.revoking && !now.Before(l.nextRevoke):
			s.revoke(l, "revoke retry")
		case !l.revoking && !now.Before(l.expireAt):
			s.revoke(l, "expiry")
		}
	}
}

func (s *sim) mountRequests(status string) []pstest.RequestState {
	var out []pstest.RequestState
	for _, r := range s.srv.Inspect().Requests() {
		if !s.foreignR[r.ID] && strings.EqualFold(r.UserName, pstest.DemoUserSvcVault) && (status == "" || r.Status == status) {
			out = append(out, r)
		}
	}
	return out
}

func (s *sim) approveOrDeny(approve bool) {
	reqs := s.mountRequests(pstest.StatusPending)
	if len(reqs) == 0 {
		return
	}
	r := reqs[s.rng.IntN(len(reqs))]
	var err error
	if approve {
		err = s.approver.Approve(context.Background(), r.ID, "sim approver")
	} else {
		err = s.approver.Deny(context.Background(), r.ID, "sim approver")
	}
	s.logf("approver: approve=%v request %d -> %v", approve, r.ID, err)
}

func (s *sim) operatorCheckin() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	resp, err := s.do(s.req(logical.UpdateOperation, fmt.Sprintf("requests/%d/checkin", l.requestID),
		map[string]interface{}{"reason": "sim operator"}, s.callers[0]))
	s.logf("operator check-in of request %d through the mount -> %s", l.requestID, errText(resp, err))
	s.markEnded(l.requestID)
}

// markEnded: the leases on id may outlive it (the contract allows an
// operator or a person to end a request under a live lease).
func (s *sim) markEnded(id int) {
	if rs, ok := s.srv.Inspect().Request(id); ok && rs.Status != pstest.StatusActive {
		for _, o := range s.leases {
			if o.requestID == id {
				o.endedOK = true
			}
		}
	}
}

func (s *sim) outsideCheckin() {
	ls := s.liveLeases()
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	err := s.foreign.Checkin(context.Background(), l.requestID, "foreign")
	s.logf("a person checks request %d in inside Password Safe -> %v", l.requestID, err)
	s.markEnded(l.requestID)
}

func (s *sim) foreignRequest() {
	acct := foreignAccounts[s.rng.IntN(len(foreignAccounts))]
	sys := 1
	if acct == 31 {
		sys = 3
	}
	id, created, err := s.foreign.CreateRequest(context.Background(), client.RequestInput{
		SystemID: sys, AccountID: acct, AccessType: client.AccessView, DurationMinutes: 60, Reason: "foreign",
	})
	if err == nil && created {
		s.foreignR[id] = true
	}
	s.logf("a person requests account %d outside Vault -> %d %v", acct, id, err)
}

func (s *sim) foreignCheckin() {
	var ids []int
	for id := range s.foreignR {
		if rs, ok := s.srv.Inspect().Request(id); ok && rs.Status == pstest.StatusActive {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.Ints(ids)
	id := ids[s.rng.IntN(len(ids))]
	err := s.foreign.Checkin(context.Background(), id, "foreign")
	s.logf("the person checks in request %d -> %v", id, err)
}

func (s *sim) advance(d time.Duration) {
	s.srv.Advance(d)
	s.logf("clock +%s", d)
	s.markExpired()
}

// markExpired: approved pending requests that expired are no longer claimable.
func (s *sim) markExpired() {
	kept := s.pending[:0]
	for _, p := range s.pending {
		if rs, ok := s.srv.Inspect().Request(p.requestID); ok && (rs.Status == pstest.StatusPending || rs.Status == pstest.StatusActive) {
			kept = append(kept, p)
		}
	}
	s.pending = kept
}

func (s *sim) rollback(immediate bool) {
	data := map[string]interface{}{}
	if immediate {
		data["immediate"] = true
	}
	r := &logical.Request{Operation: logical.RollbackOperation, Storage: crashStorage{s.store, s.cp}, Data: data}
	resp, err := s.do(r)
	s.logf("rollback (immediate=%v) -> %s", immediate, errText(resp, err))
}
