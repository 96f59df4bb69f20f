package pstest

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionUser returns the user of the request's live session and marks it
// used, or nil (missing, unknown, idle too long, or ended).
func (st *state) sessionUser(r *http.Request, now time.Time) *userRec {
	ck, err := r.Cookie(SessionCookieName)
	if err != nil {
		return nil
	}
	se := st.sessions[ck.Value]
	if se == nil {
		return nil
	}
	if now.Sub(se.lastSeen) >= st.idle {
		delete(st.sessions, ck.Value)
		return nil
	}
	se.lastSeen = now
	return se.user
}

// token is POST Auth/connect/token: the OAuth client-credentials grant.
func (st *state) token(c *call) reply {
	oauthErr := func(status int, code string) reply {
		rep := jsonReply(status, map[string]string{"error": code})
		rep.headers = map[string]string{"Cache-Control": "no-store"}
		return rep
	}
	ct := strings.ToLower(c.r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return oauthErr(http.StatusBadRequest, "invalid_request")
	}
	form, err := url.ParseQuery(string(c.body))
	if err != nil {
		return oauthErr(http.StatusBadRequest, "invalid_request")
	}
	if form.Get("grant_type") != "client_credentials" {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type")
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := c.r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	cl, ok := st.oauth[id]
	if !ok || subtle.ConstantTimeCompare([]byte(cl.Secret), []byte(secret)) != 1 {
		return oauthErr(http.StatusUnauthorized, "invalid_client")
	}
	u := st.users[strings.ToLower(cl.User)]
	if u == nil {
		return oauthErr(http.StatusUnauthorized, "invalid_client")
	}
	tok := randomID(48)
	st.tokens[tok] = &token{user: u, expires: c.now.Add(tokenLifetime)}
	rep := jsonReply(http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(tokenLifetime.Seconds()),
		"token_type":   "Bearer",
		"scope":        "publicapi",
	})
	rep.headers = map[string]string{"Cache-Control": "no-store"}
	return rep
}

// psAuth is a parsed "PS-Auth key=..; runas=..; pwd=[..];" header.
type psAuth struct {
	key, runas, pwd string
	hasPwd          bool
}

// parsePSAuth parses the PS-Auth header value (after the scheme). It
// tolerates missing spaces after ";" and a missing final ";". The password
// is everything between "pwd=[" and the last "]", so it may hold ";" or "]".
func parsePSAuth(v string) (psAuth, bool) {
	var a psAuth
	if i := indexFoldASCII(v, "pwd=["); i >= 0 {
		j := strings.LastIndex(v, "]")
		if j < i+5 {
			return a, false
		}
		a.pwd, a.hasPwd = v[i+5:j], true
		v = v[:i] + v[j+1:]
	}
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, false
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "key":
			a.key = strings.TrimSpace(val)
		case "runas":
			a.runas = strings.TrimSpace(val)
		}
	}
	return a, a.key != ""
}

// signAppin is POST Auth/SignAppin: a PS-Auth API key header or an OAuth
// bearer token in, a session cookie out.
func (st *state) signAppin(c *call) reply {
	unauthorized := errReply(http.StatusUnauthorized, "Unauthorized: invalid API key, run-as user, password or token")
	if st.licenseInvalid {
		return errReply(http.StatusForbidden, "Forbidden: the Password Safe license is not valid")
	}
	authz := strings.TrimSpace(c.r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(authz, " ")
	var u *userRec
	switch strings.ToLower(scheme) {
	case "bearer":
		t := st.tokens[strings.TrimSpace(rest)]
		if t == nil || !c.now.Before(t.expires) {
			return unauthorized
		}
		u = t.user
	case "ps-auth":
		a, ok := parsePSAuth(rest)
		if !ok {
			return unauthorized
		}
		reg, ok := st.regs[a.key]
		if !ok {
			return unauthorized
		}
		if reg.RequireClientCert {
			if rep, ok := st.checkClientCert(c); !ok {
				return rep
			}
		}
		u = st.users[strings.ToLower(a.runas)]
		if u == nil {
			return unauthorized
		}
		if reg.RequirePassword && (!a.hasPwd || subtle.ConstantTimeCompare([]byte(a.pwd), []byte(u.Password)) != 1) {
			return unauthorized
		}
	default:
		return unauthorized
	}
	if cn := st.verifiedClientCert(c); cn != "" {
		st.certSignIns[cn]++
	}
	st.signIns++
	if st.signIns%1024 == 0 {
		st.forgetIdle(c.now) // clients that never sign out must not grow memory forever
	}
	id := randomID(24)
	st.sessions[id] = &session{user: u, lastSeen: c.now}
	rep := jsonReply(http.StatusOK, map[string]any{
		"UserId":       u.ID,
		"SID":          fmt.Sprintf("S-1-5-21-3623811015-3361044348-30300820-%d", 1000+u.ID),
		"EmailAddress": u.Email,
		"UserName":     u.Name,
		"Name":         u.DisplayName,
	})
	rep.cookie = &http.Cookie{Name: SessionCookieName, Value: id, Path: "/", HttpOnly: true, Secure: c.r.TLS != nil}
	return rep
}

// checkClientCert answers a sign-in with a registration that requires a
// client certificate: ok, or the 401 to send when the TLS connection
// presented none, or one the server's ClientCA did not issue, or one that
// is expired or not yet valid on the simulator's clock.
func (st *state) checkClientCert(c *call) (reply, bool) {
	if c.r.TLS == nil || len(c.r.TLS.PeerCertificates) == 0 {
		return errReply(http.StatusUnauthorized, "Unauthorized: the API registration requires a client certificate"), false
	}
	if err := st.clientCA.verify(c.r.TLS.PeerCertificates, c.now); err != nil {
		return errReply(http.StatusUnauthorized, "Unauthorized: the client certificate is not valid (expired, not yet valid, or not issued by a trusted certificate authority)"), false
	}
	return reply{}, true
}

// verifiedClientCert is the common name of the call's client certificate
// when ClientCA issued it and it is valid now, else "".
func (st *state) verifiedClientCert(c *call) string {
	if c.r.TLS == nil || len(c.r.TLS.PeerCertificates) == 0 {
		return ""
	}
	if st.clientCA.verify(c.r.TLS.PeerCertificates, c.now) != nil {
		return ""
	}
	return c.r.TLS.PeerCertificates[0].Subject.CommonName
}

// signout is POST Auth/Signout: ends the caller's session. It answers 200
// even without a live session (signing out twice is harmless).
func (st *state) signout(c *call) reply {
	if ck, err := c.r.Cookie(SessionCookieName); err == nil {
		delete(st.sessions, ck.Value)
	}
	return reply{status: http.StatusOK}
}

// forgetIdle drops expired sessions and tokens.
func (st *state) forgetIdle(now time.Time) {
	for id, se := range st.sessions {
		if now.Sub(se.lastSeen) >= st.idle {
			delete(st.sessions, id)
		}
	}
	for id, t := range st.tokens {
		if !now.Before(t.expires) {
			delete(st.tokens, id)
		}
	}
}

// indexFoldASCII is strings.Index ignoring ASCII case, on the original
// bytes (lower-casing first could shift offsets in non-UTF-8 input).
func indexFoldASCII(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			if a != b {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}
