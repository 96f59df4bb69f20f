package backend_test

import (
	"context"
	"strings"
	"time"

	"github.com/vault-passwordsafe/vault-plugin-secrets-passwordsafe/client/pstest"
)

// settle is a quiet period: the faults stop, the config is put right,
// approvers approve what waits, and Vault and the engine get time to finish
// their recovery work. Afterwards every request of the mount must be held
// by a live lease or a claimable pending request, or have ended (I1).
func (s *sim) settle() {
	s.stats.settles.Add(1)
	s.faultMu.Lock()
	rate := s.faultRate
	s.outage, s.faultRate, s.lookupFails = 0, 0, 0
	s.faultMu.Unlock()
	if s.badURL || s.noConfig {
		if s.writeConfig(s.srv.URL) {
			s.badURL, s.noConfig = false, false
		}
	}
	s.logf("settle")
	// Rounds of a minute, and once a jump past the engine's claim window
	// for approved requests nobody collects (a caller whose answer was lost
	// to a crash never learns of its pending request). With dates without
	// a zone the window may close an hour later (zone.go).
	for round := 0; round < 14 && s.fail == ""; round++ {
		for _, r := range s.mountRequests(pstest.StatusPending) {
			held := false
			for _, p := range s.pending {
				held = held || p.requestID == r.ID
			}
			if !held {
				_ = s.approver.Approve(context.Background(), r.ID, "sim settle")
			}
		}
		step := time.Minute
		if round == 7 {
			step = time.Hour + time.Minute
			if s.zoneless {
				step += time.Hour
			}
		}
		s.srv.Advance(step)
		s.markExpired()
		s.rollback(true)
		s.vaultTick()
		s.check()
	}
	s.faultMu.Lock()
	s.faultRate = rate
	s.faultMu.Unlock()
	if s.fail != "" {
		return
	}
	now := s.srv.Now()
	for _, r := range s.mountRequests("") {
		if r.Status != pstest.StatusActive && r.Status != pstest.StatusPending {
			continue
		}
		held := false
		for _, l := range s.leases {
			held = held || (l.requestID == r.ID && l.live(now))
		}
		for _, p := range s.pending {
			held = held || p.requestID == r.ID
		}
		if !held {
			why, class := "", "I1-leak"
			for _, l := range s.leases {
				if l.requestID == r.ID && l.irrevocable {
					why, class = " (Vault gave up revoking lease "+l.id+")", "I1-leak-irrevocable"
				}
			}
			s.violate(class, "request %d (account %d, reason %q, approvers %v) is %s with no live lease and no claimable pending holder after settling%s",
				r.ID, r.AccountID, r.Reason, r.Approvers, r.Status, why)
			return
		}
	}
}

// check verifies I2 and I3 after every step.
func (s *sim) check() {
	s.stats.checks.Add(1)
	if s.fail != "" {
		return
	}
	now := s.srv.Now()
	for id := range s.foreignR {
		rs, ok := s.srv.Inspect().Request(id)
		if ok && rs.Status == pstest.StatusCheckedIn && rs.CheckinReason != "foreign" {
			s.violate("I2-foreign", "the mount ended request %d that a person made outside Vault (reason %q)", id, rs.CheckinReason)
			return
		}
	}
	for _, l := range s.leases {
		if !l.live(now) || l.endedOK {
			continue
		}
		rs, ok := s.srv.Inspect().Request(l.requestID)
		if !ok {
			s.violate("I2-forgot", "live lease %s on request %d that Password Safe forgot", l.id, l.requestID)
			return
		}
		switch rs.Status {
		case pstest.StatusActive:
			if l.expireAt.After(rs.ExpiresAt.Add(time.Second)) {
				s.violate("I3-expiry", "lease %s ends at %s, after its request %d (%s)", l.id, l.expireAt.Format(time.RFC3339), l.requestID, rs.ExpiresAt.Format(time.RFC3339))
				return
			}
		case pstest.StatusCheckedIn:
			if rs.CheckinReason == "renewed" && s.lastOp == "checkout" && l.caller.sameToEngine(s.lastBy) {
				l.endedOK = true // the same caller's hand-over
				continue
			}
			s.violate("I2-held", "request %d was checked in (%q) while lease %s of %s holds it", l.requestID, rs.CheckinReason, l.id, l.caller.name)
			return
		default:
			s.violate("I3-ended", "live lease %s (ends %s) on request %d which is %s", l.id, l.expireAt.Format(time.RFC3339), l.requestID, rs.Status)
			return
		}
	}
}

// checkLogs: no credential the seed saw appears in the engine's log.
func (s *sim) checkLogs() {
	logs := s.logs.String()
	for pw := range s.secrets {
		if pw != "" && strings.Contains(logs, pw) {
			s.violate("log", "a credential handed out appears in the engine's log")
		}
	}
	for _, sec := range []string{pstest.DemoAPIKey, pstest.DemoPasswordSvcVault} {
		if strings.Contains(logs, sec) {
			s.violate("log", "the API key or the service account's password appears in the engine's log")
		}
	}
}
