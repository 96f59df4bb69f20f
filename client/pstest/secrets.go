package pstest

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Secrets Safe: folders of secrets (credential, text and file) that users
// read through GET Secrets-Safe/Folders, GET Secrets-Safe/Secrets (by path
// and title, with paging), GET Secrets-Safe/Secrets/{id} and
// GET Secrets-Safe/Secrets/{id}/file/download.
//
// Access, as Password Safe has it: a user needs the Secrets Safe feature
// permission (User.SecretsSafe; without it every Secrets-Safe call answers
// 403), and sees the folders shared with them (Folder.Readers) and every
// folder below those; secrets follow their folder. Folders and secrets the
// user cannot see are left out of lists, and asked for by ID answer 404.

// Secret types (SecretType in the API's answers).
const (
	SecretCredential = "Credential"
	SecretText       = "Text"
	SecretFile       = "File"
)

// MaxSecretFileBytes is the largest file secret Password Safe accepts on
// upload ("Max file size is 5 MB"). The simulator does not enforce it on
// World or Editor.AddSecret, so a client's own cap can be tested.
const MaxSecretFileBytes = 5 << 20

// Folder is a Secrets Safe folder. Readers may read the folder, its
// subfolders and their secrets ("*" = every user with the Secrets Safe
// permission).
type Folder struct {
	ID          string   `json:"id" yaml:"id"` // a GUID
	Name        string   `json:"name" yaml:"name"`
	ParentID    string   `json:"parentId,omitempty" yaml:"parentId,omitempty"` // "" = root
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Readers     []string `json:"readers,omitempty" yaml:"readers,omitempty"`
}

// Secret is a Secrets Safe secret: a credential (Username, Password), a
// text (Text) or a file (FileName, FileContent).
type Secret struct {
	ID          string `json:"id" yaml:"id"` // a GUID
	FolderID    string `json:"folderId" yaml:"folderId"`
	Title       string `json:"title" yaml:"title"`
	Type        string `json:"type" yaml:"type"` // Credential, Text or File
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	Username    string `json:"username,omitempty" yaml:"username,omitempty"`
	Password    string `json:"password,omitempty" yaml:"password,omitempty"`
	Text        string `json:"text,omitempty" yaml:"text,omitempty"`
	FileName    string `json:"fileName,omitempty" yaml:"fileName,omitempty"`
	FileContent string `json:"fileContent,omitempty" yaml:"fileContent,omitempty"`
}

// Demo Secrets Safe IDs (folders and secrets of DemoWorld).
const (
	DemoFolderTeam    = "2b0f1a8e-7c41-4d2e-9a10-000000000001"
	DemoFolderTeamDB  = "2b0f1a8e-7c41-4d2e-9a10-000000000002"
	DemoFolderTeamWeb = "2b0f1a8e-7c41-4d2e-9a10-000000000003"
	DemoFolderFinance = "2b0f1a8e-7c41-4d2e-9a10-000000000004"

	DemoSecretDBAdmin  = "7e4c9d20-5b13-4f6a-8c02-000000000001" // Team/DB/postgres-admin, credential
	DemoSecretDBConn   = "7e4c9d20-5b13-4f6a-8c02-000000000002" // Team/DB/connection string, text
	DemoSecretWebConf  = "7e4c9d20-5b13-4f6a-8c02-000000000003" // Team/Web/nginx.conf, file
	DemoSecretPayroll  = "7e4c9d20-5b13-4f6a-8c02-000000000004" // Finance/payroll-api, credential
	DemoSecretBankFile = "7e4c9d20-5b13-4f6a-8c02-000000000005" // Finance/bank-export.csv, file
)

// demoSecretsSafe is DemoWorld's Secrets Safe: Team (with DB and Web)
// shared with every requestor, Finance only with svc-vault and dave.
func demoSecretsSafe() ([]Folder, []Secret) {
	team := []string{DemoUserSvcVault, DemoUserAlice, DemoUserCarol, DemoUserDave, DemoUserErin}
	folders := []Folder{
		{ID: DemoFolderTeam, Name: "Team", Description: "shared with every requestor", Readers: team},
		{ID: DemoFolderTeamDB, Name: "DB", ParentID: DemoFolderTeam},
		{ID: DemoFolderTeamWeb, Name: "Web", ParentID: DemoFolderTeam},
		{ID: DemoFolderFinance, Name: "Finance", Description: "svc-vault and dave only", Readers: []string{DemoUserSvcVault, DemoUserDave}},
	}
	secrets := []Secret{
		{ID: DemoSecretDBAdmin, FolderID: DemoFolderTeamDB, Title: "postgres-admin", Type: SecretCredential,
			Description: "PostgreSQL admin login", Username: "pgadmin", Password: "Pg-Admin-Secret!8uJ"},
		{ID: DemoSecretDBConn, FolderID: DemoFolderTeamDB, Title: "connection string", Type: SecretText,
			Text: "postgres://app:App-Conn-Secret!2k@db-prod-01:5432/app"},
		{ID: DemoSecretWebConf, FolderID: DemoFolderTeamWeb, Title: "nginx.conf", Type: SecretFile, FileName: "nginx.conf",
			FileContent: "server {\n  listen 443 ssl;\n  # demo file secret\n  proxy_set_header X-Api-Key \"Web-Api-Key-Secret!5t\";\n}\n"},
		{ID: DemoSecretPayroll, FolderID: DemoFolderFinance, Title: "payroll-api", Type: SecretCredential,
			Username: "payroll", Password: "Payroll-Secret!3vQ"},
		{ID: DemoSecretBankFile, FolderID: DemoFolderFinance, Title: "bank-export.csv", Type: SecretFile, FileName: "bank-export.csv",
			FileContent: "account,amount\n0001,100.00\n"},
	}
	return folders, secrets
}

// validGUID reports whether s is a GUID in the 8-4-4-4-12 form.
func validGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// validateSecretsSafe checks the world's folders and secrets.
func validateSecretsSafe(w *World, users map[string]*User, bad func(string, ...any)) {
	folders := map[string]*Folder{}
	for i := range w.Folders {
		f := &w.Folders[i]
		key := strings.ToLower(f.ID)
		switch {
		case !validGUID(f.ID):
			bad("folder %q: id %q is not a GUID", f.Name, f.ID)
		case folders[key] != nil:
			bad("folder %q: id %s used twice", f.Name, f.ID)
		}
		folders[key] = f
		if f.Name == "" || strings.Contains(f.Name, "/") {
			bad("folder %s: name %q empty or with a /", f.ID, f.Name)
		}
		for _, r := range f.Readers {
			if r != "*" && users[strings.ToLower(r)] == nil {
				bad("folder %q: unknown reader %q", f.Name, r)
			}
		}
	}
	for i := range w.Folders {
		f := &w.Folders[i]
		seen := map[string]bool{}
		for p := f; p.ParentID != ""; {
			if seen[strings.ToLower(p.ID)] {
				bad("folder %q: parent cycle", f.Name)
				break
			}
			seen[strings.ToLower(p.ID)] = true
			parent := folders[strings.ToLower(p.ParentID)]
			if parent == nil {
				bad("folder %q: unknown parent %s", p.Name, p.ParentID)
				break
			}
			p = parent
		}
	}
	ids := map[string]bool{}
	titles := map[string]bool{}
	for _, s := range w.Secrets {
		if !validGUID(s.ID) || ids[strings.ToLower(s.ID)] {
			bad("secret %q: id %q not a GUID or used twice", s.Title, s.ID)
		}
		ids[strings.ToLower(s.ID)] = true
		if folders[strings.ToLower(s.FolderID)] == nil {
			bad("secret %q: unknown folder %s", s.Title, s.FolderID)
		}
		if s.Title == "" || len(s.Title) > 256 {
			bad("secret %s: title empty or longer than 256", s.ID)
		}
		k := strings.ToLower(s.FolderID + "\x00" + s.Title)
		if titles[k] {
			bad("secret %q: title used twice in folder %s", s.Title, s.FolderID)
		}
		titles[k] = true
		switch s.Type {
		case SecretCredential, SecretText, SecretFile:
		default:
			bad("secret %q: type %q (want Credential, Text or File)", s.Title, s.Type)
		}
	}
}

type folderRec struct {
	Folder
	parent *folderRec
	path   []string // names from the root
}

// readable reports whether u may read f: f or a folder above it is shared
// with u (or with everyone).
func (f *folderRec) readable(u *userRec) bool {
	for p := f; p != nil; p = p.parent {
		for _, r := range p.Readers {
			if r == "*" || strings.EqualFold(r, u.Name) {
				return true
			}
		}
	}
	return false
}

func (f *folderRec) pathWith(sep string) string { return strings.Join(f.path, sep) }

type secretRec struct {
	Secret
	folder   *folderRec
	modified time.Time
}

// secretsSafe is the simulator's Secrets Safe. Guarded by Server.mu.
type secretsSafe struct {
	folders    map[string]*folderRec // by lower-case ID
	folderList []*folderRec          // in definition order
	secrets    map[string]*secretRec // by lower-case ID
	secretList []*secretRec
	// legacy: answer GET Secrets-Safe/Secrets as servers before API
	// version 3.2 do: a bare array whatever ?version= says.
	legacy bool
}

func newSecretsSafe(w *World, start time.Time) *secretsSafe {
	ss := &secretsSafe{folders: map[string]*folderRec{}, secrets: map[string]*secretRec{}}
	for _, f := range w.Folders {
		ss.addFolder(f)
	}
	for _, s := range w.Secrets {
		ss.addSecret(s, start)
	}
	return ss
}

// addFolder adds f (its parent must exist already, or come later in a
// world that Validate accepted: parents are linked on first use).
func (ss *secretsSafe) addFolder(f Folder) *folderRec {
	f.Readers = cloneStrings(f.Readers)
	rec := &folderRec{Folder: f}
	ss.folders[strings.ToLower(f.ID)] = rec
	ss.folderList = append(ss.folderList, rec)
	for _, r := range ss.folderList {
		ss.link(r)
	}
	return rec
}

func (ss *secretsSafe) link(r *folderRec) {
	r.path = nil
	r.parent = nil
	var names []string
	for p := r; p != nil; {
		names = append([]string{p.Name}, names...)
		if p.ParentID == "" {
			break
		}
		parent := ss.folders[strings.ToLower(p.ParentID)]
		if p == r {
			r.parent = parent
		}
		p = parent
	}
	r.path = names
}

func (ss *secretsSafe) addSecret(s Secret, now time.Time) *secretRec {
	rec := &secretRec{Secret: s, folder: ss.folders[strings.ToLower(s.FolderID)], modified: now}
	ss.secrets[strings.ToLower(s.ID)] = rec
	ss.secretList = append(ss.secretList, rec)
	return rec
}

// secretsSafeUser checks the Secrets Safe feature permission.
func secretsSafeUser(c *call) *reply {
	if !c.user.SecretsSafe {
		rep := errReply(http.StatusForbidden, "User does not have permission to access Secrets Safe")
		return &rep
	}
	return nil
}

type folderJSON struct {
	Id          string
	Name        string
	Description string
	ParentId    *string
	UserGroupId *int
}

// pageParams reads Limit (default 1000, at least 1) and Offset (default 0).
func pageParams(c *call) (limit, offset int, bad *reply) {
	limit = 1000
	if v, ok := queryValue(c.r, "limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			rep := errReply(http.StatusBadRequest, "Limit must be an integer greater than 0")
			return 0, 0, &rep
		}
		limit = n
	}
	if v, ok := queryValue(c.r, "offset"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			rep := errReply(http.StatusBadRequest, "Offset must be a non-negative integer")
			return 0, 0, &rep
		}
		offset = n
	}
	return limit, offset, nil
}

func page[T any](all []T, limit, offset int) []T {
	if offset >= len(all) {
		return []T{}
	}
	return all[offset:min(len(all), offset+limit)]
}

func queryBool(c *call, name string, def bool) (bool, *reply) {
	v, ok := queryValue(c.r, name)
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		rep := errReply(http.StatusBadRequest, fmt.Sprintf("The value '%s' is not valid for %s.", v, name))
		return false, &rep
	}
	return b, nil
}

// listFolders is GET Secrets-Safe/Folders: the folders the user may read,
// filtered by FolderName (part of the name), FolderPath (that folder, and
// with IncludeSubfolders, default true, the folders below it) and
// RootOnly, paged by Limit and Offset. A bare array in every API version.
func (st *state) listFolders(c *call) reply {
	if bad := secretsSafeUser(c); bad != nil {
		return *bad
	}
	limit, offset, bad := pageParams(c)
	if bad != nil {
		return *bad
	}
	name, _ := queryValue(c.r, "folderName")
	path, hasPath := queryValue(c.r, "folderPath")
	subs, bad := queryBool(c, "includeSubfolders", true)
	if bad != nil {
		return *bad
	}
	rootOnly, bad := queryBool(c, "rootOnly", false)
	if bad != nil {
		return *bad
	}
	path = strings.Trim(path, "/")
	out := []folderJSON{}
	for _, f := range st.ss.folderList {
		if !f.readable(c.user) {
			continue
		}
		if name != "" && !strings.Contains(strings.ToLower(f.Name), strings.ToLower(name)) {
			continue
		}
		if rootOnly && f.ParentID != "" {
			continue
		}
		if hasPath && path != "" {
			p := f.pathWith("/")
			if !strings.EqualFold(p, path) && !(subs && len(p) > len(path) && strings.EqualFold(p[:len(path)+1], path+"/")) {
				continue
			}
		}
		j := folderJSON{Id: f.ID, Name: f.Name, Description: f.Description}
		if f.ParentID != "" {
			pid := f.ParentID
			j.ParentId = &pid
		}
		out = append(out, j)
	}
	return jsonReply(http.StatusOK, page(out, limit, offset))
}

type secretJSON struct {
	Id          string
	Title       string
	Description string
	Username    *string
	Password    *string
	SecretType  string
	FolderId    string
	Folder      string
	FolderPath  string
	CreatedOn   string
	CreatedBy   string
	ModifiedOn  string
	ModifiedBy  string
	Notes       string
	Urls        []any
}

// secretJSON is s as the API shows it; the value (Password: a
// credential's password or a text secret's text) only when decrypt.
func (s *secretRec) json(sep string, decrypt bool) secretJSON {
	t := s.modified.UTC().Format("2006-01-02T15:04:05Z")
	j := secretJSON{
		Id: s.ID, Title: s.Title, Description: s.Description, SecretType: s.Type,
		FolderId: s.FolderID, Folder: s.folder.Name, FolderPath: s.folder.pathWith(sep),
		CreatedOn: t, CreatedBy: "admin", ModifiedOn: t, ModifiedBy: "admin", Urls: []any{},
	}
	if s.Type == SecretCredential {
		u := s.Username
		j.Username = &u
	}
	if decrypt {
		switch s.Type {
		case SecretCredential:
			p := s.Password
			j.Password = &p
		case SecretText:
			p := s.Text
			j.Password = &p
		}
	}
	return j
}

// secretsPage is the API version 3.2 answer of GET Secrets-Safe/Secrets.
type secretsPage struct {
	TotalCount int
	Data       []secretJSON
}

// listSecrets is GET Secrets-Safe/Secrets: the secrets the user may read,
// filtered by Path (the folder path, names joined by Separator, default
// "/"), Title (the whole title) and AfterDate, paged by Limit (default
// 1000) and Offset; the value only with Decrypt=true. Paths and titles
// match case-insensitively. No match is a 200 with an empty list. With
// version=3.2 (or later) the answer is {TotalCount, Data}; before, a bare
// array.
func (st *state) listSecrets(c *call) reply {
	if bad := secretsSafeUser(c); bad != nil {
		return *bad
	}
	limit, offset, bad := pageParams(c)
	if bad != nil {
		return *bad
	}
	sep, ok := queryValue(c.r, "separator")
	if !ok || sep == "" {
		sep = "/"
	}
	if len([]rune(sep)) > 1 {
		return errReply(http.StatusBadRequest, "Separator must be a single character")
	}
	path, _ := queryValue(c.r, "path")
	title, _ := queryValue(c.r, "title")
	if len(path) > 1798 {
		return errReply(http.StatusBadRequest, "Path must be at most 1798 characters")
	}
	if len(title) > 256 {
		return errReply(http.StatusBadRequest, "Title must be at most 256 characters")
	}
	decrypt, bad := queryBool(c, "decrypt", false)
	if bad != nil {
		return *bad
	}
	var after time.Time
	if v, ok := queryValue(c.r, "afterDate"); ok && v != "" {
		t, err := time.Parse("2006-01-02T15:04:05Z", v)
		if err != nil {
			return errReply(http.StatusBadRequest, "AfterDate must be in the format yyyy-MM-ddTHH:mm:ssZ")
		}
		after = t
	}
	paged, bad := versionAtLeast32(c)
	if bad != nil {
		return *bad
	}
	all := []secretJSON{}
	for _, s := range st.ss.secretList {
		if !s.folder.readable(c.user) {
			continue
		}
		if path != "" && !strings.EqualFold(strings.Trim(path, sep), s.folder.pathWith(sep)) {
			continue
		}
		if title != "" && !strings.EqualFold(title, s.Title) {
			continue
		}
		if !after.IsZero() && s.modified.Before(after) {
			continue
		}
		all = append(all, s.json(sep, decrypt))
	}
	out := page(all, limit, offset)
	if paged && !st.ss.legacy {
		return jsonReply(http.StatusOK, secretsPage{TotalCount: len(all), Data: out})
	}
	return jsonReply(http.StatusOK, out)
}

// versionAtLeast32 reads ?version= (default 3.0): whether it is 3.2 or
// later; an unknown version is a 400.
func versionAtLeast32(c *call) (bool, *reply) {
	v, ok := queryValue(c.r, "version")
	if !ok || v == "" {
		return false, nil
	}
	switch v {
	case "3.0", "3.1":
		return false, nil
	case "3.2":
		return true, nil
	}
	rep := errReply(http.StatusBadRequest, fmt.Sprintf("API version '%s' is not supported", v))
	return false, &rep
}

// readableSecret is the secret with this ID if the user may read it.
func (st *state) readableSecret(c *call) (*secretRec, *reply) {
	if bad := secretsSafeUser(c); bad != nil {
		return nil, bad
	}
	s := st.ss.secrets[strings.ToLower(c.name)]
	if s == nil || !s.folder.readable(c.user) {
		rep := errReply(http.StatusNotFound, "Secret not found")
		return nil, &rep
	}
	return s, nil
}

// getSecret is GET Secrets-Safe/Secrets/{id}: the secret with its value.
func (st *state) getSecret(c *call) reply {
	s, bad := st.readableSecret(c)
	if bad != nil {
		return *bad
	}
	return jsonReply(http.StatusOK, s.json("/", true))
}

// downloadSecretFile is GET Secrets-Safe/Secrets/{id}/file/download: the
// file as an attachment (application/octet-stream, Content-Disposition
// with the file name). Not a file secret: 400.
func (st *state) downloadSecretFile(c *call) reply {
	s, bad := st.readableSecret(c)
	if bad != nil {
		return *bad
	}
	if s.Type != SecretFile {
		return errReply(http.StatusBadRequest, "Secret is not a file secret")
	}
	rep := reply{status: http.StatusOK, body: []byte(s.FileContent), headers: map[string]string{
		"Content-Type":        "application/octet-stream",
		"Content-Disposition": mime.FormatMediaType("attachment", map[string]string{"filename": s.FileName}),
	}}
	if len(rep.body) == 0 {
		rep.headers["Content-Length"] = "0"
	}
	return rep
}

// AddFolder adds a Secrets Safe folder (its parent must exist). It panics
// on a folder the world would refuse (a test bug).
func (e Editor) AddFolder(f Folder) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	ss := e.s.st.ss
	if !validGUID(f.ID) || ss.folders[strings.ToLower(f.ID)] != nil {
		panic(fmt.Sprintf("pstest: folder id %q is not a GUID or is used", f.ID))
	}
	if f.ParentID != "" && ss.folders[strings.ToLower(f.ParentID)] == nil {
		panic(fmt.Sprintf("pstest: no folder %s", f.ParentID))
	}
	ss.addFolder(f)
}

// AddSecret adds a Secrets Safe secret to an existing folder (no size cap
// on FileContent). It panics on a secret the world would refuse.
func (e Editor) AddSecret(s Secret) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	st := e.s.st
	if !validGUID(s.ID) || st.ss.secrets[strings.ToLower(s.ID)] != nil {
		panic(fmt.Sprintf("pstest: secret id %q is not a GUID or is used", s.ID))
	}
	if st.ss.folders[strings.ToLower(s.FolderID)] == nil {
		panic(fmt.Sprintf("pstest: no folder %s", s.FolderID))
	}
	switch s.Type {
	case SecretCredential, SecretText, SecretFile:
	default:
		panic(fmt.Sprintf("pstest: secret type %q", s.Type))
	}
	st.ss.addSecret(s, st.now())
}

// SetUserSecretsSafe grants or takes away a user's Secrets Safe feature
// permission.
func (e Editor) SetUserSecretsSafe(user string, allowed bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	u := e.s.st.users[strings.ToLower(user)]
	if u == nil {
		panic(fmt.Sprintf("pstest: no user %q", user))
	}
	u.SecretsSafe = allowed
}

// SetSecretsListLegacy makes GET Secrets-Safe/Secrets answer as a server
// before API version 3.2 does: a bare array even for ?version=3.2.
func (e Editor) SetSecretsListLegacy(legacy bool) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.s.st.ss.legacy = legacy
}
