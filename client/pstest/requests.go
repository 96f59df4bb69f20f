package pstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Error bodies. 403 answers carry the documented sub-code first.
const (
	msg4031Request  = "4031 - User does not have permission to request the account or the account is not valid for the system"
	msg4031Release  = "4031 - User does not have permission to release a password"
	msg4031Creds    = "4031 - User does not have permission to request credentials"
	msg4031Approver = "4031 - User is not an approver of the account of this request"
	msg4031ISA      = "4031 - User does not have ISA permission for the account or the account is not valid for the system"
	msg4032         = "4032 - Requestor Only API or account. Only Requestors can access this API or account"
	msg4033         = "4033 - Approver Only API or account. Only Approvers can access this API or account"
	msg4033Approve  = "4033 - Approver only - User cannot approve his or her own request"
	msg4033Deny     = "4033 - Approver only - User cannot deny his or her own request"
	msg4034         = "4034 - Request is not yet approved"
	msg4035         = "4035 - Not enough Approvers configured to approve a request"
	msg4036         = "4036 - Request has been approved already"
	msgNotFound     = "Request not found: it may have already been released or has expired"
	msg415          = "Unsupported Media Type: the request body must be JSON (application/json, text/json, application/*+json) or application/x-www-form-urlencoded"
)

func conflictReply(minutes int) reply {
	return errReply(http.StatusConflict, fmt.Sprintf("4091 - Conflicting request exists. This user or another user has already requested a password for the specified account within the next %d minutes window", minutes))
}

// requestBody is the body of POST Requests and POST Aliases/{id}/Requests.
// encoding/json matches names case-insensitively, as ASP.NET does.
type requestBody struct {
	AccessType             string
	SystemID               int
	AccountID              int
	ApplicationID          *int
	DurationMinutes        int
	Reason                 string
	AccessPolicyScheduleID *int
	ConflictOption         string
	TicketSystemID         *int
	TicketNumber           string
	RotateOnCheckin        *bool
}

// The fields of requestBody sent as text by a form or as JSON strings
// ("11") that the server reads as numbers or booleans.
var (
	requestIntFields  = []string{"SystemID", "AccountID", "ApplicationID", "DurationMinutes", "AccessPolicyScheduleID", "TicketSystemID"}
	requestBoolFields = []string{"RotateOnCheckin"}
)

var accessTypes = map[string]string{"view": "View", "rdp": "RDP", "ssh": "SSH", "app": "App"}

// parseRequestBody checks everything that can be checked without the world.
func parseRequestBody(c *call, alias bool) (requestBody, *reply) {
	var in requestBody
	fail := func(status int, msg string) (requestBody, *reply) {
		rep := errReply(status, msg)
		return in, &rep
	}
	if !isJSON(c.r) && !isForm(c.r) {
		return fail(http.StatusUnsupportedMediaType, msg415)
	}
	if len(bytes.TrimSpace(c.body)) == 0 {
		return fail(http.StatusBadRequest, "The request body is required")
	}
	body, _, err := bodyJSON(c, requestIntFields, requestBoolFields)
	if err != nil {
		return fail(http.StatusBadRequest, "The request body is invalid: "+err.Error())
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(http.StatusBadRequest, "The request body is invalid: "+jsonErrText(err))
	}
	if in.AccessType == "" {
		in.AccessType = "View"
	}
	at, ok := accessTypes[strings.ToLower(in.AccessType)]
	if !ok || (alias && at == "App") {
		return fail(http.StatusBadRequest, fmt.Sprintf("AccessType %q is not valid (View, RDP, SSH%s)", in.AccessType, map[bool]string{false: ", App"}[alias]))
	}
	in.AccessType = at
	if !alias && (in.SystemID == 0 || in.AccountID == 0) {
		return fail(http.StatusBadRequest, "SystemID and AccountID are required")
	}
	if in.DurationMinutes < 1 || in.DurationMinutes > maxDurationMinutes {
		return fail(http.StatusBadRequest, fmt.Sprintf("DurationMinutes is required and must be between 1 and %d", maxDurationMinutes))
	}
	if utf8.RuneCountInString(in.Reason) > 1000 {
		return fail(http.StatusBadRequest, "Reason is longer than 1000 characters")
	}
	if utf8.RuneCountInString(in.TicketNumber) > 20 {
		return fail(http.StatusBadRequest, "TicketNumber is longer than 20 characters")
	}
	switch strings.ToLower(in.ConflictOption) {
	case "", "reuse", "renew":
		in.ConflictOption = strings.ToLower(in.ConflictOption)
	default:
		return fail(http.StatusBadRequest, fmt.Sprintf("ConflictOption %q is not valid (reuse, renew)", in.ConflictOption))
	}
	if at == "App" && (in.ApplicationID == nil || *in.ApplicationID == 0) {
		return fail(http.StatusBadRequest, "ApplicationID is required when AccessType is App")
	}
	return in, nil
}

// jsonErrText describes a decode error without echoing the body.
func jsonErrText(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %s must be a %s", e.Field, e.Type)
	case *json.SyntaxError:
		return fmt.Sprintf("malformed JSON at offset %d", e.Offset)
	}
	return "malformed JSON"
}

// reasonBody parses the optional {"Reason": ...} of Checkin, Approve and Deny.
func reasonBody(c *call) (string, *reply) {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return "", nil
	}
	body, ok, err := bodyJSON(c, nil, nil)
	if !ok {
		rep := errReply(http.StatusUnsupportedMediaType, msg415)
		return "", &rep
	}
	if err != nil {
		rep := errReply(http.StatusBadRequest, "The request body is invalid: "+err.Error())
		return "", &rep
	}
	var in struct{ Reason string }
	if err := json.Unmarshal(body, &in); err != nil {
		rep := errReply(http.StatusBadRequest, "The request body is invalid: "+jsonErrText(err))
		return "", &rep
	}
	if utf8.RuneCountInString(in.Reason) > 1000 {
		rep := errReply(http.StatusBadRequest, "Reason is longer than 1000 characters")
		return "", &rep
	}
	return in.Reason, nil
}

// canRequest: a requestor role and a place in the account's requestors.
func (a *acctRec) canRequest(u *userRec) bool {
	if !u.requestor {
		return false
	}
	if a.Policy.Requestors == nil {
		return true
	}
	for _, n := range a.Policy.Requestors {
		if n == "*" || strings.EqualFold(n, u.Name) {
			return true
		}
	}
	return false
}

// approvedBy: u may approve or deny requests for the account.
func (a *acctRec) approvedBy(u *userRec) bool {
	if !u.approver {
		return false
	}
	for _, n := range a.Policy.Approvers {
		if strings.EqualFold(n, u.Name) {
			return true
		}
	}
	return false
}

// eligibleApprovers counts the approvers who could approve a request by u.
func (st *state) eligibleApprovers(a *acctRec, u *userRec) int {
	seen := map[string]bool{}
	for _, n := range a.Policy.Approvers {
		au := st.users[strings.ToLower(n)]
		if au == nil || !au.approver || au == u || seen[au.key] {
			continue
		}
		seen[au.key] = true
	}
	return len(seen)
}

func (st *state) createRequest(c *call) reply {
	in, bad := parseRequestBody(c, false)
	if bad != nil {
		return *bad
	}
	a := st.accounts[in.AccountID]
	if st.systems[in.SystemID] == nil || a == nil || a.sys.ID != in.SystemID {
		return errReply(http.StatusForbidden, msg4031Request)
	}
	return st.create(c, in, a, 0)
}

func (st *state) createAliasRequest(c *call) reply {
	in, bad := parseRequestBody(c, true)
	if bad != nil {
		return *bad
	}
	al := st.aliases[c.ids[0]]
	if al == nil {
		return errReply(http.StatusNotFound, "Alias not found")
	}
	if al.State != 1 && al.State != 2 {
		return errReply(http.StatusForbidden, "4031 - The alias is not mapped to an available managed account")
	}
	in.SystemID, in.AccountID, in.ApplicationID = al.SystemID, al.AccountID, nil
	return st.create(c, in, al.acct, al.ID)
}

// create applies permissions, the policy, conflicts and ConflictOption,
// then creates the request (201) or hands back a reused one (200).
func (st *state) create(c *call, in requestBody, a *acctRec, aliasID int) reply {
	u := c.user
	if !a.apiEnabled() {
		return errReply(http.StatusForbidden, msg4031Request)
	}
	if !u.requestor {
		if u.approver {
			return errReply(http.StatusForbidden, msg4033)
		}
		return errReply(http.StatusForbidden, msg4031Request)
	}
	if !a.canRequest(u) {
		return errReply(http.StatusForbidden, msg4031Request)
	}
	if n := a.Policy.RequiredApprovals; n > 0 && st.eligibleApprovers(a, u) < n {
		return errReply(http.StatusForbidden, msg4035)
	}
	if in.DurationMinutes > a.MaxReleaseMinutes {
		return errReply(http.StatusBadRequest, fmt.Sprintf("DurationMinutes %d exceeds the maximum release duration of %d minutes for this account", in.DurationMinutes, a.MaxReleaseMinutes))
	}
	appID := 0
	if in.AccessType == "App" {
		appID = *in.ApplicationID
		if a.ApplicationID == 0 || appID != a.ApplicationID {
			return errReply(http.StatusBadRequest, fmt.Sprintf("ApplicationID %d is not an application of this account", appID))
		}
	}

	// The user's own open requests for the account, newest first.
	var mine []*request
	othersActive := false
	for _, r := range a.open {
		if r.user == u {
			mine = append(mine, r)
		} else if a.Exclusive && r.st.Status == StatusActive {
			othersActive = true
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].st.ID > mine[j].st.ID })

	switch in.ConflictOption {
	case "reuse":
		for _, r := range mine {
			if r.st.Status == StatusActive && r.st.AccessType == in.AccessType && r.st.ApplicationID == appID {
				return jsonReply(http.StatusOK, r.st.ID)
			}
		}
	case "renew":
		// Decide before any side effect: a renew that ends in 409 must not
		// have cancelled anything.
		pending := false
		for _, r := range mine {
			if r.st.Status == StatusPending {
				pending = true
			}
		}
		if othersActive || pending {
			return conflictReply(in.DurationMinutes)
		}
		for _, r := range mine {
			st.end(r, StatusCheckedIn, c.now, "renewed")
		}
		mine = nil
	}
	if othersActive || len(mine) > 0 {
		return conflictReply(in.DurationMinutes)
	}

	rotate := true
	if in.RotateOnCheckin != nil {
		rotate = *in.RotateOnCheckin
	}
	r := &request{acct: a, user: u, st: RequestState{
		ID:              st.nextID,
		UserName:        u.Name,
		SystemID:        a.sys.ID,
		AccountID:       a.ID,
		AliasID:         aliasID,
		ApplicationID:   appID,
		AccessType:      in.AccessType,
		Status:          StatusPending,
		DurationMinutes: in.DurationMinutes,
		Reason:          in.Reason,
		TicketNumber:    in.TicketNumber,
		RotateOnCheckin: rotate,
		CreatedAt:       c.now,
		ExpiresAt:       c.now.Add(time.Duration(in.DurationMinutes) * time.Minute),
	}}
	if in.TicketSystemID != nil {
		r.st.TicketSystemID = *in.TicketSystemID
	}
	st.nextID++
	if a.Policy.RequiredApprovals == 0 {
		st.activate(r, c.now)
	}
	st.add(r)
	return jsonReply(http.StatusCreated, r.st.ID)
}

func (st *state) add(r *request) {
	st.reqs[r.st.ID] = r
	st.reqOrder = append(st.reqOrder, r)
	r.acct.open[r.st.ID] = r
	m := st.openByUser[r.user.key]
	if m == nil {
		m = map[int]*request{}
		st.openByUser[r.user.key] = m
	}
	m[r.st.ID] = r
	st.schedule(r)
}

// activate approves r now: its duration counts from here.
func (st *state) activate(r *request, now time.Time) {
	t := now
	r.st.Status = StatusActive
	r.st.ApprovedAt = &t
	r.st.ExpiresAt = now.Add(time.Duration(r.st.DurationMinutes) * time.Minute)
}

// ownedRequest finds a request the caller owns: 404 unknown, 403 4031 owned
// by someone else, 403 4034 pending, 404 ended.
func (st *state) ownedRequest(c *call, id int, msg4031 string) (*request, *reply) {
	fail := func(rep reply) (*request, *reply) { return nil, &rep }
	r := st.reqs[id]
	switch {
	case r == nil:
		return fail(errReply(http.StatusNotFound, msgNotFound))
	case r.user != c.user:
		return fail(errReply(http.StatusForbidden, msg4031))
	case r.st.Status == StatusPending:
		return fail(errReply(http.StatusForbidden, msg4034))
	case !r.open():
		return fail(errReply(http.StatusNotFound, msgNotFound))
	}
	return r, nil
}

func (st *state) checkin(c *call) reply {
	reason, bad := reasonBody(c)
	if bad != nil {
		return *bad
	}
	r, bad := st.ownedRequest(c, c.ids[0], msg4031Release)
	if bad != nil {
		return *bad
	}
	st.end(r, StatusCheckedIn, c.now, reason)
	return noContent()
}

// approverFor checks that the caller may approve or deny r.
func approverFor(c *call, r *request, ownMsg string) *reply {
	u := c.user
	var rep reply
	switch {
	case !u.approver && u.requestor:
		rep = errReply(http.StatusForbidden, msg4032)
	case !r.acct.approvedBy(u):
		rep = errReply(http.StatusForbidden, msg4031Approver)
	case r.user == u:
		rep = errReply(http.StatusForbidden, ownMsg)
	case !r.open():
		rep = errReply(http.StatusNotFound, msgNotFound)
	default:
		return nil
	}
	return &rep
}

func (st *state) approve(c *call) reply {
	if _, bad := reasonBody(c); bad != nil {
		return *bad
	}
	r := st.reqs[c.ids[0]]
	if r == nil {
		return errReply(http.StatusNotFound, msgNotFound)
	}
	if bad := approverFor(c, r, msg4033Approve); bad != nil {
		return *bad
	}
	if r.st.Status == StatusActive {
		return errReply(http.StatusForbidden, msg4036)
	}
	for _, n := range r.st.Approvers {
		if strings.EqualFold(n, c.user.Name) {
			return errReply(http.StatusForbidden, msg4036)
		}
	}
	r.st.Approvers = append(r.st.Approvers, c.user.Name)
	if len(r.st.Approvers) >= r.acct.Policy.RequiredApprovals {
		st.activate(r, c.now)
		st.schedule(r)
	}
	return noContent()
}

func (st *state) deny(c *call) reply {
	reason, bad := reasonBody(c)
	if bad != nil {
		return *bad
	}
	r := st.reqs[c.ids[0]]
	if r == nil {
		return errReply(http.StatusNotFound, msgNotFound)
	}
	if bad := approverFor(c, r, msg4033Deny); bad != nil {
		return *bad
	}
	st.end(r, StatusDenied, c.now, reason)
	return noContent()
}

func (st *state) rotateOnCheckin(c *call) reply {
	r := st.reqs[c.ids[0]]
	switch {
	case r == nil:
		return errReply(http.StatusNotFound, msgNotFound)
	case r.user != c.user:
		return errReply(http.StatusForbidden, "4031 - Only the owner of the request can change it")
	case !r.open():
		return errReply(http.StatusNotFound, msgNotFound)
	}
	r.st.RotateOnCheckin = true
	return noContent()
}

// requestJSON is one element of GET Requests.
type requestJSON struct {
	RequestID          int
	SystemID           int
	SystemName         string
	AccountID          int
	AccountName        string
	DomainName         string
	AliasID            int
	ApplicationID      int
	RequestReleaseDate *string
	ApprovedDate       *string
	ExpiresDate        *string
	Status             string
	AccessType         string
	Reason             string
}

// zonelessLayout is how servers that write local time spell a date
// ("2019-05-30T07:30:48.16": no zone, hundredths of a second).
const zonelessLayout = "2006-01-02T15:04:05.99"

// isoTime formats t as ISO-8601: RFC 3339 in UTC, or, after
// Editor.SetZonelessDates, the server's local time without a zone.
func (st *state) isoTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	var s string
	if st.zoneless {
		off := st.zoneOffset
		if !st.zoneChangeAt.IsZero() && !t.Before(st.zoneChangeAt) {
			off = st.zoneOffsetAfter
		}
		s = t.UTC().Add(off).Format(zonelessLayout)
	} else {
		s = t.UTC().Format(time.RFC3339Nano)
	}
	return &s
}

func (st *state) isoTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	return st.isoTime(*t)
}

// statusWord is how GET Requests spells an internal status (see
// Editor.SetStatusWords).
func (st *state) statusWord(status string) string {
	if w, ok := st.statusWords[status]; ok {
		return w
	}
	return status
}

func (r *request) toJSON(st *state) requestJSON {
	return requestJSON{
		RequestID:          r.st.ID,
		SystemID:           r.st.SystemID,
		SystemName:         r.acct.sys.Name,
		AccountID:          r.st.AccountID,
		AccountName:        r.acct.Name,
		DomainName:         r.acct.sys.DomainName,
		AliasID:            r.st.AliasID,
		ApplicationID:      r.st.ApplicationID,
		RequestReleaseDate: st.isoTime(r.st.CreatedAt),
		ApprovedDate:       st.isoTimePtr(r.st.ApprovedAt),
		ExpiresDate:        st.isoTime(r.st.ExpiresAt),
		Status:             r.st.Status,
		AccessType:         r.st.AccessType,
		Reason:             r.st.Reason,
	}
}

// listRequests is GET Requests?status=all|active|pending&queue=req|app.
func (st *state) listRequests(c *call) reply {
	status, _ := queryValue(c.r, "status")
	queue, _ := queryValue(c.r, "queue")
	status, queue = strings.ToLower(status), strings.ToLower(queue)
	if status == "" {
		status = "all"
	}
	if queue == "" {
		queue = "req"
	}
	if status != "all" && status != StatusActive && status != StatusPending {
		return errReply(http.StatusBadRequest, "status must be all, active or pending")
	}
	if queue != "req" && queue != "app" {
		return errReply(http.StatusBadRequest, "queue must be req or app")
	}
	u := c.user
	var found []*request
	if queue == "req" {
		for _, r := range st.openByUser[u.key] {
			found = append(found, r)
		}
	} else {
		if !u.approver {
			return errReply(http.StatusForbidden, msg4033)
		}
		for _, a := range u.approves {
			for _, r := range a.open {
				if r.user == u {
					continue // one's own requests are in the req queue
				}
				if r.st.Status == StatusPending || approvedByName(r, u.Name) {
					found = append(found, r)
				}
			}
		}
	}
	out := make([]requestJSON, 0, len(found))
	sort.Slice(found, func(i, j int) bool { return found[i].st.ID < found[j].st.ID })
	for _, r := range found {
		if status == "all" || r.st.Status == status {
			j := r.toJSON(st)
			j.Status = st.statusWord(j.Status)
			out = append(out, j)
		}
	}
	return jsonReply(http.StatusOK, out)
}

func approvedByName(r *request, name string) bool {
	for _, n := range r.st.Approvers {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
