package pstest

import (
	"fmt"
	"strings"
	"time"
)

// Editor changes the simulated world while the server runs, the way an
// administrator would in the Password Safe console: account settings and
// policies, passwords, alias states, the license, whether the API is
// enabled, the session idle time, and which sessions and tokens are still
// valid; also how many ended requests the server remembers. Get one with
// Server.Edit. Each method takes the server's lock, so an edit applies
// between two API calls, never in the middle of one. Methods that name an
// account or alias panic if the world has none with that ID (a test bug).
type Editor struct{ s *Server }

// Edit returns the Editor of s.
func (s *Server) Edit() Editor { return Editor{s} }

// account returns the account with this ID; the caller holds s.mu.
func (e Editor) account(id int) *acctRec {
	a := e.s.st.accounts[id]
	if a == nil {
		panic(fmt.Sprintf("pstest: no account %d", id))
	}
	return a
}

// SetAccountMaxDuration sets an account's MaximumReleaseDuration (minutes).
func (e Editor) SetAccountMaxDuration(accountID, minutes int) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	a := e.account(accountID)
	a.MaxReleaseMinutes = minutes
	if a.DefaultReleaseMinutes > minutes {
		a.DefaultReleaseMinutes = minutes
	}
}

// SetAccountPolicy replaces an account's access policy (approver names must
// be users with an approver role).
func (e Editor) SetAccountPolicy(accountID int, p Policy) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	st := e.s.st
	a := e.account(accountID)
	for _, u := range st.users {
		for i, x := range u.approves {
			if x == a {
				u.approves = append(u.approves[:i:i], u.approves[i+1:]...)
				break
			}
		}
	}
	a.Policy = Policy{
		Requestors:        cloneStrings(p.Requestors),
		Approvers:         cloneStrings(p.Approvers),
		RequiredApprovals: p.RequiredApprovals,
	}
	for _, name := range p.Approvers {
		if u := st.users[strings.ToLower(name)]; u != nil {
			u.approves = append(u.approves, a)
		}
	}
}

func cloneStrings(in []string) []string {
	if in == nil {
		return nil
	}
	return append([]string{}, in...)
}

// SetAccountExclusive sets whether any user's active request blocks others.
func (e Editor) SetAccountExclusive(accountID int, exclusive bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.account(accountID).Exclusive = exclusive
}

// SetAccountAPIEnabled enables or disables API access to an account.
func (e Editor) SetAccountAPIEnabled(accountID int, enabled bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.account(accountID).APIEnabled = Bool(enabled)
}

// SetAccountRotation sets whether the account rotates its password after a
// release (false = DisableRotation).
func (e Editor) SetAccountRotation(accountID int, rotates bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.account(accountID).DisableRotation = !rotates
}

// SetPassword sets the current password of an account.
func (e Editor) SetPassword(accountID int, password string) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	a := e.account(accountID)
	a.password = password
	a.lastChange = e.s.st.now()
}

// SetAliasState sets an alias's mapped state (only 1 and 2 can be requested).
func (e Editor) SetAliasState(aliasID, state int) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	al := e.s.st.aliases[aliasID]
	if al == nil {
		panic(fmt.Sprintf("pstest: no alias %d", aliasID))
	}
	al.State = state
}

// SetAliasAccount maps an alias to another managed account, as an
// administrator re-pointing it does: its requests from then on are of that
// account (requests made before stay on the old one).
func (e Editor) SetAliasAccount(aliasID, accountID int) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	al := e.s.st.aliases[aliasID]
	if al == nil {
		panic(fmt.Sprintf("pstest: no alias %d", aliasID))
	}
	a := e.account(accountID)
	al.acct, al.SystemID, al.AccountID = a, a.sys.ID, a.ID
}

// SetLicenseInvalid makes SignAppin answer 403 (true) or work again.
func (e Editor) SetLicenseInvalid(invalid bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.licenseInvalid = invalid
}

// SetAPIDisabled makes every API call answer 410 (true) or work again.
func (e Editor) SetAPIDisabled(disabled bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.apiDisabled = disabled
}

// SetSessionIdle sets the idle time after which a session expires (d <= 0
// means the default, 20 minutes).
func (e Editor) SetSessionIdle(d time.Duration) {
	if d <= 0 {
		d = defaultIdle
	}
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.idle = d
}

// ExpireSessions ends every live session: their next call answers 401.
// OAuth access tokens stay valid (they are not sessions); see ExpireTokens.
func (e Editor) ExpireSessions() {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.sessions = map[string]*session{}
}

// ExpireTokens invalidates every OAuth access token: SignAppin with one
// answers 401 until the client fetches a new token.
func (e Editor) ExpireTokens() {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.tokens = map[string]*token{}
}

// SetHistory sets how many ended requests the server remembers (default
// DefaultHistory; at least 1).
func (e Editor) SetHistory(n int) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	st := e.s.st
	st.history = max(n, 1)
	if st.ended > st.history {
		st.forgetOldEnded()
	}
}

// SetStatusWords sets the Status words GET Requests answers for pending
// and active requests ("" keeps the default, "pending" and "active").
// BeyondTrust's reference types Status as a bare string and names only the
// filter words, so tests use this to check that a client recognises every
// plausible spelling ("Pending", "Pending Approval", "Active", "Approved").
// RequestState.Status (Inspector) keeps the internal constants.
func (e Editor) SetStatusWords(pending, active string) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	m := map[string]string{}
	if pending != "" {
		m[StatusPending] = pending
	}
	if active != "" {
		m[StatusActive] = active
	}
	e.s.st.statusWords = m
}

// SetErrorBodies selects how error answers are spelt (see ErrorBodies).
func (e Editor) SetErrorBodies(b ErrorBodies) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.errorBodies = b
}

// SetZonelessDates makes the server write its dates (GET Requests,
// ManagedAccounts, Aliases) the way some Password Safe servers do: its
// local time, offset from UTC by offset, without a zone and with
// hundredths of a second ("2019-05-30T07:30:48.16"). A client that reads
// such a date as UTC is off by offset. on=false goes back to RFC 3339 in
// UTC (the default).
func (e Editor) SetZonelessDates(on bool, offset time.Duration) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.zoneless, e.s.st.zoneOffset = on, offset
	e.s.st.zoneChangeAt, e.s.st.zoneOffsetAfter = time.Time{}, 0
	if !on {
		e.s.st.zoneOffset = 0
	}
}

// SetZoneChange models a daylight saving change at instant at, for a
// server writing dates without a zone (SetZonelessDates): the date of a
// moment from at on is written with offset after, an earlier one keeps the
// offset SetZonelessDates gave. So a request made before the change and
// expiring after it carries one offset in its release date and another in
// its expiry, as a server converting each moment to its local time does.
func (e Editor) SetZoneChange(at time.Time, after time.Duration) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.zoneChangeAt, e.s.st.zoneOffsetAfter = at, after
}
