package pstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// credentialType reads ?type= (default password).
func credentialType(c *call) (string, *reply) {
	typ, _ := queryValue(c.r, "type")
	typ = strings.ToLower(typ)
	switch typ {
	case "":
		return "password", nil
	case "password", "dsskey", "passphrase":
		return typ, nil
	}
	rep := errReply(http.StatusBadRequest, "type must be password, dsskey or passphrase")
	return "", &rep
}

// credentialValue is the account's credential of one type, or a 400 when the
// account has no such credential: dsskey needs a key, passphrase an
// encrypted key (one with a passphrase).
func credentialValue(a *acctRec, typ string) (string, *reply) {
	switch typ {
	case "dsskey":
		if a.PrivateKey == "" {
			rep := errReply(http.StatusBadRequest, "No DSS key is set for this managed account")
			return "", &rep
		}
		return a.PrivateKey, nil
	case "passphrase":
		if a.PrivateKey == "" || a.Passphrase == "" {
			rep := errReply(http.StatusBadRequest, "passphrase is only supported for encrypted DSS keys")
			return "", &rep
		}
		return a.Passphrase, nil
	}
	return a.password, nil
}

// credentials is GET Credentials/{id}?type=: a JSON string.
func (st *state) credentials(c *call) reply {
	typ, bad := credentialType(c)
	if bad != nil {
		return *bad
	}
	r, bad := st.ownedRequest(c, c.ids[0], msg4031Creds)
	if bad != nil {
		return *bad
	}
	v, bad := credentialValue(r.acct, typ)
	if bad != nil {
		return *bad
	}
	return jsonReply(http.StatusOK, v)
}

type aliasCredentialJSON struct {
	AliasID     int
	AliasName   string
	SystemID    int
	SystemName  string
	AccountID   int
	AccountName string
	DomainName  string
	Password    string
	PrivateKey  string
	Passphrase  string
}

// aliasCredentials is GET Aliases/{aid}/Credentials/{rid}?type=: the alias's
// details with only the asked credential filled.
func (st *state) aliasCredentials(c *call) reply {
	typ, bad := credentialType(c)
	if bad != nil {
		return *bad
	}
	al := st.aliases[c.ids[0]]
	if al == nil {
		return errReply(http.StatusNotFound, "Alias not found")
	}
	if r := st.reqs[c.ids[1]]; r != nil && r.acct != al.acct {
		return errReply(http.StatusNotFound, msgNotFound) // not a request for this alias's account
	}
	r, bad := st.ownedRequest(c, c.ids[1], msg4031Creds)
	if bad != nil {
		return *bad
	}
	v, bad := credentialValue(r.acct, typ)
	if bad != nil {
		return *bad
	}
	out := aliasCredentialJSON{
		AliasID: al.ID, AliasName: al.Name,
		SystemID: al.acct.sys.ID, SystemName: al.acct.sys.Name,
		AccountID: al.acct.ID, AccountName: al.acct.Name, DomainName: al.acct.sys.DomainName,
	}
	switch typ {
	case "password":
		out.Password = v
	case "dsskey":
		out.PrivateKey = v
	case "passphrase":
		out.Passphrase = v
	}
	return jsonReply(http.StatusOK, out)
}

// visible: the accounts GET ManagedAccounts and GET Aliases show a user are
// the API-enabled ones the user may request, approve or reach as ISA.
func (a *acctRec) visible(u *userRec) bool {
	return a.apiEnabled() && (a.canRequest(u) || a.approvedBy(u) || u.isa[a.sys.ID])
}

type managedAccountJSON struct {
	PlatformID             int
	SystemId               int
	SystemName             string
	DomainName             string
	AccountId              int
	AccountName            string
	InstanceName           string
	UserPrincipalName      string
	ApplicationID          *int
	ApplicationDisplayName string
	DefaultReleaseDuration int
	MaximumReleaseDuration int
	LastChangeDate         *string
	NextChangeDate         *string
	IsChanging             bool
	ChangeState            int
	IsISAAccess            bool
	PreferredNodeID        string
	AccountDescription     string
}

func (s *sysRec) platformID() int {
	switch {
	case s.PlatformID != 0:
		return s.PlatformID
	case s.DomainName != "":
		return 1 // Windows
	}
	return 4 // Linux
}

func (s *sysRec) workgroup() string {
	if s.Workgroup == "" {
		return "BeyondTrust Workgroup"
	}
	return s.Workgroup
}

func (a *acctRec) toJSON(st *state, u *userRec) managedAccountJSON {
	m := managedAccountJSON{
		PlatformID:             a.sys.platformID(),
		SystemId:               a.sys.ID,
		SystemName:             a.sys.Name,
		DomainName:             a.sys.DomainName,
		AccountId:              a.ID,
		AccountName:            a.Name,
		ApplicationDisplayName: a.ApplicationName,
		DefaultReleaseDuration: a.DefaultReleaseMinutes,
		MaximumReleaseDuration: a.MaxReleaseMinutes,
		LastChangeDate:         st.isoTime(a.lastChange),
		IsISAAccess:            u.isa[a.sys.ID],
		PreferredNodeID:        "",
		AccountDescription:     a.Description,
	}
	if a.ApplicationID != 0 {
		id := a.ApplicationID
		m.ApplicationID = &id
	}
	return m
}

// intParam reads an integer query parameter (def when absent or empty);
// anything else than an integer >= lo is a 400.
func intParam(c *call, name string, def, lo int) (int, *reply) {
	v, ok := queryValue(c.r, name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		rep := errReply(http.StatusBadRequest, fmt.Sprintf("%s must be an integer >= %d", name, lo))
		return 0, &rep
	}
	return n, nil
}

// pageJSON is the wrapper of a list answer when paging was asked for.
type pageJSON[T any] struct {
	TotalCount int
	Data       []T
}

// pagedReply answers items[offset:offset+limit] (limit 0: no limit): as
// {TotalCount, Data} when the call gave limit or offset, else as a bare
// array (capped at limit).
func pagedReply[T any](c *call, items []T, limit, offset int) reply {
	total := len(items)
	if offset >= len(items) {
		items = items[:0]
	} else if items = items[offset:]; limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	if items == nil {
		items = []T{}
	}
	_, hasLimit := queryValue(c.r, "limit")
	_, hasOffset := queryValue(c.r, "offset")
	if hasLimit || hasOffset {
		return jsonReply(http.StatusOK, pageJSON[T]{TotalCount: total, Data: items})
	}
	return jsonReply(http.StatusOK, items)
}

// managedAccounts is GET ManagedAccounts. With both systemName and
// accountName it answers one object (or 404 "Managed Account not found");
// otherwise a page: {TotalCount, Data} when limit or offset is given, else
// a bare array (both possibly empty).
func (st *state) managedAccounts(c *call) reply {
	systemName, _ := queryValue(c.r, "systemName")
	accountName, _ := queryValue(c.r, "accountName")
	workgroup, _ := queryValue(c.r, "workgroupName")
	typ, _ := queryValue(c.r, "type")
	systemID, bad := intParam(c, "systemID", 0, 1)
	if bad != nil {
		return *bad
	}
	limit, bad := intParam(c, "limit", 1000, 1)
	if bad != nil {
		return *bad
	}
	offset, bad := intParam(c, "offset", 0, 0)
	if bad != nil {
		return *bad
	}
	var typeFilter func(*acctRec) bool
	switch strings.ToLower(typ) {
	case "", "system", "recent", "database", "cloud":
	case "domainlinked":
		typeFilter = func(a *acctRec) bool { return a.sys.DomainName != "" }
	case "application":
		typeFilter = func(a *acctRec) bool { return a.ApplicationID != 0 }
	default:
		return errReply(http.StatusBadRequest, "type must be one of system, recent, domainlinked, database, cloud, application")
	}
	single := systemName != "" && accountName != ""
	var out []managedAccountJSON
	for _, sys := range st.sysOrder {
		if systemID != 0 && sys.ID != systemID {
			continue
		}
		if systemName != "" && !strings.EqualFold(sys.Name, systemName) {
			continue
		}
		if workgroup != "" && !strings.EqualFold(sys.workgroup(), workgroup) {
			continue
		}
		for _, a := range sys.accounts {
			if accountName != "" && !strings.EqualFold(a.Name, accountName) {
				continue
			}
			if typeFilter != nil && !typeFilter(a) {
				continue
			}
			if !a.visible(c.user) {
				continue
			}
			out = append(out, a.toJSON(st, c.user))
		}
	}
	if single {
		if len(out) == 0 {
			return errReply(http.StatusNotFound, "Managed Account not found")
		}
		return jsonReply(http.StatusOK, out[0])
	}
	return pagedReply(c, out, limit, offset)
}

// managedSystemJSON is one managed system as GET ManagedSystems answers it
// (the properties the simulator knows; the rest are zero or null).
type managedSystemJSON struct {
	ManagedSystemID     int
	EntityTypeID        int
	AssetID             *int
	DatabaseID          *int
	DirectoryID         *int
	CloudID             *int
	WorkgroupID         int
	HostName            string
	DnsName             string
	IPAddress           string
	InstanceName        string
	IsDefaultInstance   *bool
	Template            *string
	ForestName          *string
	UseSSL              *bool
	SystemName          string
	PlatformID          int
	NetBiosName         *string
	Port                *int
	Timeout             int
	Description         string
	ContactEmail        *string
	PasswordRuleID      int
	DSSKeyRuleID        int
	ReleaseDuration     int
	MaxReleaseDuration  int
	ISAReleaseDuration  int
	AutoManagementFlag  bool
	FunctionalAccountID *int
	LoginAccountID      *int
	ElevationCommand    *string
	CheckPasswordFlag   bool
	RemoteClientType    string
	ApplicationHostID   *int
	IsApplicationHost   bool
	AccessURL           *string
}

// workgroupIDs numbers the workgroups by first appearance (1, 2, ...).
func (st *state) workgroupIDs() map[string]int {
	ids := map[string]int{}
	for _, s := range st.sysOrder {
		k := strings.ToLower(s.workgroup())
		if ids[k] == 0 {
			ids[k] = len(ids) + 1
		}
	}
	return ids
}

func (s *sysRec) toJSON(workgroupID int) managedSystemJSON {
	asset := s.ID // every simulated system is an asset with an asset ID of its own (sim)
	m := managedSystemJSON{
		ManagedSystemID: s.ID, EntityTypeID: 1, AssetID: &asset, WorkgroupID: workgroupID,
		HostName: s.Name, DnsName: s.Name, SystemName: s.Name, PlatformID: s.platformID(),
		Timeout: 30, ReleaseDuration: 120, MaxReleaseDuration: 525600, ISAReleaseDuration: 120,
		AutoManagementFlag: true, RemoteClientType: "None",
	}
	if s.DomainName != "" {
		m.DnsName = strings.ToLower(s.Name + "." + s.DomainName)
		nb := strings.ToUpper(s.DomainName)
		m.NetBiosName = &nb
	}
	return m
}

// managedSystems is GET ManagedSystems: every managed system (sim: the
// simulator has no feature permissions, so any signed-in user may list
// them, where Password Safe wants "Password Safe System Management
// (Read)"), filtered by name (exact, case-insensitive) and type (entity
// type 1-4; every simulated system is an asset, 1), paged like
// ManagedAccounts but without a default limit.
func (st *state) managedSystems(c *call) reply {
	name, _ := queryValue(c.r, "name")
	typ, bad := intParam(c, "type", 0, 0)
	if bad != nil {
		return *bad
	}
	if typ > 4 {
		return errReply(http.StatusBadRequest, "type must be 1 (asset), 2 (database), 3 (directory) or 4 (cloud)")
	}
	limit, bad := intParam(c, "limit", 0, 1)
	if bad != nil {
		return *bad
	}
	offset, bad := intParam(c, "offset", 0, 0)
	if bad != nil {
		return *bad
	}
	wg := st.workgroupIDs()
	out := []managedSystemJSON{}
	for _, s := range st.sysOrder {
		if name != "" && !strings.EqualFold(s.Name, name) {
			continue
		}
		if typ != 0 && typ != 1 {
			continue
		}
		out = append(out, s.toJSON(wg[strings.ToLower(s.workgroup())]))
	}
	return pagedReply(c, out, limit, offset)
}

type aliasJSON struct {
	AliasId                int
	AliasName              string
	AliasState             int
	SystemId               int
	SystemName             string
	AccountId              int
	AccountName            string
	DomainName             string
	InstanceName           string
	DefaultReleaseDuration int
	MaximumReleaseDuration int
	LastChangeDate         *string
	NextChangeDate         *string
	IsChanging             bool
	ChangeState            int
	MappedAccounts         []mappedAccountJSON
}

type mappedAccountJSON struct {
	AliasID          int
	ManagedSystemID  int
	ManagedAccountID int
	Status           int
}

func (al *aliasRec) toJSON(st *state) aliasJSON {
	a := al.acct
	return aliasJSON{
		AliasId: al.ID, AliasName: al.Name, AliasState: al.State,
		SystemId: a.sys.ID, SystemName: a.sys.Name,
		AccountId: a.ID, AccountName: a.Name, DomainName: a.sys.DomainName,
		DefaultReleaseDuration: a.DefaultReleaseMinutes, MaximumReleaseDuration: a.MaxReleaseMinutes,
		LastChangeDate: st.isoTime(a.lastChange),
		MappedAccounts: []mappedAccountJSON{{AliasID: al.ID, ManagedSystemID: a.sys.ID, ManagedAccountID: a.ID, Status: al.State}},
	}
}

// listAliases is GET Aliases (array) and GET Aliases?name= (one object).
func (st *state) listAliases(c *call) reply {
	if name, ok := queryValue(c.r, "name"); ok {
		return st.aliasByName(c, name)
	}
	out := []aliasJSON{}
	for _, al := range st.alOrder {
		if al.acct.visible(c.user) {
			out = append(out, al.toJSON(st))
		}
	}
	return jsonReply(http.StatusOK, out)
}

func (st *state) aliasByName(c *call, name string) reply {
	al := st.aliasNm[strings.ToLower(name)]
	if al == nil || !al.acct.visible(c.user) {
		return errReply(http.StatusNotFound, "Alias not found")
	}
	return jsonReply(http.StatusOK, al.toJSON(st))
}

// getAlias is GET Aliases/{id} and the deprecated GET Aliases/{name}.
func (st *state) getAlias(c *call) reply {
	if len(c.ids) == 0 {
		return st.aliasByName(c, c.name)
	}
	al := st.aliases[c.ids[0]]
	if al == nil || !al.acct.visible(c.user) {
		return errReply(http.StatusNotFound, "Alias not found")
	}
	return jsonReply(http.StatusOK, al.toJSON(st))
}

// isaRequest is POST ISARequests?type=: for a user with the ISA role on the
// system, a View request and its credential in one call (201
// {"Credentials": "..."}). The ISA user's own active View request for the
// account is reused.
func (st *state) isaRequest(c *call) reply {
	typ, bad := credentialType(c)
	if bad != nil {
		return *bad
	}
	if !isJSON(c.r) && !isForm(c.r) {
		return errReply(http.StatusUnsupportedMediaType, msg415)
	}
	var in struct {
		SystemID, AccountID, DurationMinutes int
		Reason                               string
	}
	if len(bytes.TrimSpace(c.body)) == 0 {
		return errReply(http.StatusBadRequest, "The request body is required")
	}
	body, _, err := bodyJSON(c, []string{"SystemID", "AccountID", "DurationMinutes"}, nil)
	if err != nil {
		return errReply(http.StatusBadRequest, "The request body is invalid: "+err.Error())
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return errReply(http.StatusBadRequest, "The request body is invalid: "+jsonErrText(err))
	}
	if in.SystemID == 0 || in.AccountID == 0 {
		return errReply(http.StatusBadRequest, "SystemID and AccountID are required")
	}
	if utf8.RuneCountInString(in.Reason) > 1000 {
		return errReply(http.StatusBadRequest, "Reason is longer than 1000 characters")
	}
	a := st.accounts[in.AccountID]
	if a == nil || a.sys.ID != in.SystemID || !a.apiEnabled() || !c.user.isa[in.SystemID] {
		return errReply(http.StatusForbidden, msg4031ISA)
	}
	if in.DurationMinutes == 0 {
		in.DurationMinutes = a.DefaultReleaseMinutes
	}
	if in.DurationMinutes < 1 || in.DurationMinutes > maxDurationMinutes || in.DurationMinutes > a.MaxReleaseMinutes {
		return errReply(http.StatusBadRequest, fmt.Sprintf("DurationMinutes must be between 1 and %d for this account", a.MaxReleaseMinutes))
	}
	v, bad := credentialValue(a, typ)
	if bad != nil {
		return *bad
	}
	for _, r := range a.open {
		if r.user == c.user && r.st.Status == StatusActive && r.st.AccessType == "View" {
			return jsonReply(http.StatusCreated, map[string]string{"Credentials": v})
		}
	}
	for _, r := range a.open {
		if r.user != c.user && a.Exclusive && r.st.Status == StatusActive {
			return conflictReply(in.DurationMinutes)
		}
	}
	r := &request{acct: a, user: c.user, st: RequestState{
		ID: st.nextID, UserName: c.user.Name, SystemID: a.sys.ID, AccountID: a.ID,
		AccessType: "View", DurationMinutes: in.DurationMinutes, Reason: in.Reason,
		RotateOnCheckin: true, CreatedAt: c.now,
	}}
	st.nextID++
	st.activate(r, c.now)
	st.add(r)
	return jsonReply(http.StatusCreated, map[string]string{"Credentials": v})
}
