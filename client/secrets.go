package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Secrets Safe: folders and secrets (credential, text, file) read through
// GET Secrets-Safe/Folders, GET Secrets-Safe/Secrets (by path and title,
// paged), GET Secrets-Safe/Secrets/{id} and its file download.

// Secret types as Password Safe names them (Secret.SecretType).
const (
	SecretTypeCredential = "Credential"
	SecretTypeText       = "Text"
	SecretTypeFile       = "File"
)

// SecretsAPIVersion is the ?version= sent to GET Secrets-Safe/Secrets: from
// 3.2 the answer is a page, {"TotalCount": n, "Data": [...]}, which tells
// how many secrets match; servers that answer a bare array are read too.
const SecretsAPIVersion = "3.2"

// Limits Password Safe documents for GET Secrets-Safe/Secrets.
const (
	MaxSecretPathLength  = 1798
	MaxSecretTitleLength = 256
)

// ErrFileTooLarge is wrapped when a file secret is larger than the caller's
// cap. The file is not read past the cap (not at all when the server
// declares its length); such a call is never retried.
var ErrFileTooLarge = errors.New("password safe: file secret larger than the size cap")

func fileTooLarge(size, limit int64) error {
	if size >= 0 {
		return fmt.Errorf("the file is %d bytes, more than the cap of %d: %w", size, limit, ErrFileTooLarge)
	}
	return fmt.Errorf("the file is more than the cap of %d bytes: %w", limit, ErrFileTooLarge)
}

// Folder is one element of GET Secrets-Safe/Folders. ParentID is "" for a
// root folder.
type Folder struct {
	ID          string `json:"Id"`
	Name        string `json:"Name"`
	Description string `json:"Description"`
	ParentID    string `json:"ParentId"`
}

// UnmarshalJSON reads a null ParentId (and other nulls) as "".
func (f *Folder) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID          *string `json:"Id"`
		Name        *string `json:"Name"`
		Description *string `json:"Description"`
		ParentID    *string `json:"ParentId"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = Folder{ID: deref(raw.ID), Name: deref(raw.Name), Description: deref(raw.Description), ParentID: deref(raw.ParentID)}
	if f.ParentID == "00000000-0000-0000-0000-000000000000" {
		f.ParentID = ""
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Secret is a Secrets Safe secret as GET Secrets-Safe/Secrets and
// GET Secrets-Safe/Secrets/{id} answer it. Password is the value: a
// credential's password or a text secret's text (only when asked to
// decrypt); a file's content comes from SecretFile. String leaves it out.
type Secret struct {
	ID          string `json:"Id"`
	Title       string `json:"Title"`
	Description string `json:"Description"`
	SecretType  string `json:"SecretType"`
	Username    string `json:"Username"`
	Password    string `json:"Password"`
	FolderID    string `json:"FolderId"`
	Folder      string `json:"Folder"`
	FolderPath  string `json:"FolderPath"`
	CreatedOn   string `json:"CreatedOn"`
	ModifiedOn  string `json:"ModifiedOn"`
	Notes       string `json:"Notes"`
}

// UnmarshalJSON reads nulls as "" (Password is null unless decrypted).
func (s *Secret) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID, Title, Description, SecretType, Username, Password *string
		FolderID                                               *string `json:"FolderId"`
		Folder, FolderPath, CreatedOn, ModifiedOn, Notes       *string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = Secret{
		ID: deref(raw.ID), Title: deref(raw.Title), Description: deref(raw.Description),
		SecretType: deref(raw.SecretType), Username: deref(raw.Username), Password: deref(raw.Password),
		FolderID: deref(raw.FolderID), Folder: deref(raw.Folder), FolderPath: deref(raw.FolderPath),
		CreatedOn: deref(raw.CreatedOn), ModifiedOn: deref(raw.ModifiedOn), Notes: deref(raw.Notes),
	}
	return nil
}

// String describes s without its value.
func (s Secret) String() string {
	return fmt.Sprintf("secret %s %q (%s) in %q", s.ID, s.Title, s.SecretType, s.FolderPath)
}

// GoString is String, so %#v does not print the value either.
func (s Secret) GoString() string { return s.String() }

// FoldersQuery pages GET Secrets-Safe/Folders. Zero values are not sent
// (Password Safe's default page is 1000).
type FoldersQuery struct {
	Limit, Offset int
}

// SecretsQuery filters and pages GET Secrets-Safe/Secrets. Path is a
// folder path whose names are joined by Separator ("" sends none: the
// server's default, "/"); Title a whole title. Decrypt asks for the values.
type SecretsQuery struct {
	Path, Title, Separator string
	Limit, Offset          int
	Decrypt                bool
}

// SecretsPage is one answer of GET Secrets-Safe/Secrets. TotalCount is how
// many secrets match in all, -1 when the server did not say (before API
// version 3.2).
type SecretsPage struct {
	TotalCount int
	Secrets    []Secret
}

// SecretFile is the answer of GET Secrets-Safe/Secrets/{id}/file/download.
type SecretFile struct {
	FileName string // from Content-Disposition, "" if the server sent none
	Content  []byte
}

// Folders is one page of GET Secrets-Safe/Folders: the folders the run-as
// user may read. Use AllFolders to read every page.
func (c *Client) Folders(ctx context.Context, q FoldersQuery) ([]Folder, error) {
	p, err := c.foldersPage(ctx, q)
	return p.Items, err
}

// AllFolders reads every page of GET Secrets-Safe/Folders from q.Offset
// on, q.Limit folders a page (0: DefaultPageSize); more than MaxPages
// pages is ErrTooManyPages. No folder is an empty list, not an error.
func (c *Client) AllFolders(ctx context.Context, q FoldersQuery) ([]Folder, error) {
	return readAll(ctx, q, c.foldersPage)
}

func (c *Client) foldersPage(ctx context.Context, q FoldersQuery) (Page[Folder], error) {
	return getPage[Folder](ctx, c, opFolders, "Secrets-Safe/Folders", url.Values{}, q.Limit, q.Offset)
}

// Secrets is GET Secrets-Safe/Secrets with ?version=3.2. No match is an
// empty page (the server answers 200 with an empty list).
func (c *Client) Secrets(ctx context.Context, q SecretsQuery) (*SecretsPage, error) {
	switch {
	case utf8.RuneCountInString(q.Path) > MaxSecretPathLength:
		return nil, invalid("path is longer than %d characters", MaxSecretPathLength)
	case utf8.RuneCountInString(q.Title) > MaxSecretTitleLength:
		return nil, invalid("title is longer than %d characters", MaxSecretTitleLength)
	case utf8.RuneCountInString(q.Separator) > 1:
		return nil, invalid("separator must be one character")
	case !utf8.ValidString(q.Path+q.Title+q.Separator) || hasCtl(q.Path+q.Title+q.Separator):
		return nil, invalid("path, title and separator must not contain control characters")
	}
	v := url.Values{"version": {SecretsAPIVersion}}
	setIf(v, "path", q.Path)
	setIf(v, "title", q.Title)
	setIf(v, "separator", q.Separator)
	if q.Decrypt {
		v.Set("decrypt", "true")
	}
	p, err := getPage[Secret](ctx, c, opSecrets, "Secrets-Safe/Secrets", v, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	return &SecretsPage{TotalCount: p.TotalCount, Secrets: p.Items}, nil
}

// checkGUID refuses what is not a GUID: IDs go into the URL path.
func checkGUID(field, s string) error {
	if len(s) != 36 {
		return invalid("%s must be a GUID (8-4-4-4-12 hexadecimal digits)", field)
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if ch != '-' {
				return invalid("%s must be a GUID (8-4-4-4-12 hexadecimal digits)", field)
			}
			continue
		}
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f' || ch >= 'A' && ch <= 'F') {
			return invalid("%s must be a GUID (8-4-4-4-12 hexadecimal digits)", field)
		}
	}
	return nil
}

// ValidGUID reports whether s is a GUID in the 8-4-4-4-12 form.
func ValidGUID(s string) bool { return checkGUID("", s) == nil }

// Secret is GET Secrets-Safe/Secrets/{id}: one secret with its value
// (a credential's password or a text secret's text). Unknown (or not
// readable by the run-as user) is a 404 *Error.
func (c *Client) Secret(ctx context.Context, id string) (*Secret, error) {
	if err := checkGUID("secret ID", id); err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{
		op: opSecret, method: http.MethodGet, path: "Secrets-Safe/Secrets/" + id, session: true, retry: retryAll,
	})
	defer res.free()
	if err != nil {
		return nil, err
	}
	out := &Secret{}
	// The decoder's error could quote the body, which holds the secret.
	if b := bytes.TrimSpace(res.bytes()); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, out) != nil {
		return nil, badResponse(opSecret, res.status, len(res.bytes()))
	}
	return out, nil
}

// SecretFile is GET Secrets-Safe/Secrets/{id}/file/download. A file larger
// than maxBytes (> 0) fails with ErrFileTooLarge without being read past
// the cap.
func (c *Client) SecretFile(ctx context.Context, id string, maxBytes int64) (*SecretFile, error) {
	if err := checkGUID("secret ID", id); err != nil {
		return nil, err
	}
	if maxBytes <= 0 || maxBytes > maxBody {
		maxBytes = maxBody
	}
	cl := &call{
		op: opSecretFile, method: http.MethodGet, path: "Secrets-Safe/Secrets/" + id + "/file/download",
		session: true, retry: retryAll, maxBody: maxBytes,
	}
	res, err := c.do(ctx, cl)
	defer res.free()
	if err != nil {
		return nil, err
	}
	out := &SecretFile{Content: bytes.Clone(res.bytes())}
	if out.Content == nil {
		out.Content = []byte{}
	}
	if cd := cl.respHeader.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			out.FileName = strings.TrimSpace(params["filename"])
		}
	}
	return out, nil
}
