package bearer

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

const (
	// maxValueBytes bounds every identity value (it ends up in a header).
	maxValueBytes = 1024
	// maxNumericDate is 9999-12-31T23:59:59Z; later dates are malformed.
	maxNumericDate = 253402300799
)

var (
	errNotObject = errors.New("bearer: not a single JSON object")
	errDuplicate = errors.New("bearer: duplicate JSON member")
)

// members calls fn for each member of the JSON object in data, in order.
// Unlike json.Unmarshal it fails on duplicate member names (which parsers
// resolve differently: first wins, last wins, error) and on anything after
// the object.
func members(data []byte, fn func(name string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errNotObject
	}
	seen := make(map[string]struct{}, 16)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errNotObject
		}
		name, _ := t.(string)
		if _, dup := seen[name]; dup {
			return errDuplicate
		}
		seen[name] = struct{}{}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return errNotObject
		}
		if err := fn(name, raw); err != nil {
			return err
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject
	}
	return nil
}

// claims are the members of a JWT payload or an introspection response
// that gatehouse reads, each type-checked: a member with the wrong JSON
// type makes the whole token malformed, it is never coerced.
type claims struct {
	iss, sub, clientID, azp, scope, email, username string
	preferredUsername, name, upn, sid, gty, idtyp   string
	tokenType                                       string
	aud, scp, groups                                []string
	exp, nbf, iat                                   time.Time
	active                                          json.RawMessage

	hasIss, hasAud, hasExp, hasNbf, hasIat, hasScope, hasScp bool
	hasTokenType, emailVerified, hasNonce, hasEvents         bool
}

// parseClaims reads data strictly. groupsPath names the groups claim: a
// top-level member of exactly that name, or else a dotted path.
func parseClaims(data []byte, groupsPath string) (*claims, error) {
	c := &claims{}
	top, rest, nested := strings.Cut(groupsPath, ".")
	var groupsRaw, parentRaw json.RawMessage
	err := members(data, func(name string, raw json.RawMessage) error {
		ok := true
		switch name {
		case "iss":
			c.iss, ok = jsonString(raw)
			c.hasIss = true
		case "sub":
			c.sub, ok = jsonString(raw)
		case "aud":
			c.aud, ok = stringOrArray(raw)
			c.hasAud = true
		case "exp":
			c.exp, ok = numericDate(raw)
			c.hasExp = true
		case "nbf":
			c.nbf, ok = numericDate(raw)
			c.hasNbf = true
		case "iat":
			c.iat, ok = numericDate(raw)
			c.hasIat = true
		case "scope":
			c.scope, ok = jsonString(raw) // RFC 8693 §4.2: a string, never an array
			c.hasScope = true
		case "scp":
			var s string
			if s, ok = jsonString(raw); ok {
				c.scp = strings.Fields(s)
			} else {
				c.scp, ok = stringArray(raw)
			}
			c.hasScp = true
		case "email_verified":
			c.emailVerified, ok = jsonBool(raw)
		case "token_type":
			c.tokenType, ok = jsonString(raw)
			c.hasTokenType = true
		case "nonce":
			c.hasNonce = true
		case "events":
			c.hasEvents = true
		case "active":
			c.active = raw
		default:
			if p := stringClaim(c, name); p != nil {
				*p, ok = jsonString(raw)
			}
		}
		if !ok {
			return fmt.Errorf("bearer: claim %q has the wrong type", name)
		}
		if name == groupsPath {
			groupsRaw = raw
		} else if nested && name == top {
			parentRaw = raw
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if groupsRaw == nil && parentRaw != nil {
		groupsRaw = lookupPath(parentRaw, rest)
	}
	if groupsRaw != nil {
		var ok bool
		if c.groups, ok = stringArray(groupsRaw); !ok {
			s, isString := jsonString(groupsRaw)
			if !isString {
				return nil, fmt.Errorf("bearer: claim %q has the wrong type", groupsPath)
			}
			c.groups = []string{s}
		}
	}
	return c, nil
}

// stringClaim returns the field of c for an optional string claim.
func stringClaim(c *claims, name string) *string {
	switch name {
	case "client_id":
		return &c.clientID
	case "azp":
		return &c.azp
	case "email":
		return &c.email
	case "username":
		return &c.username
	case "preferred_username":
		return &c.preferredUsername
	case "name":
		return &c.name
	case "upn":
		return &c.upn
	case "sid":
		return &c.sid
	case "gty":
		return &c.gty
	case "idtyp":
		return &c.idtyp
	}
	return nil
}

// lookupPath follows a dotted path through nested objects; nil when it
// leads nowhere.
func lookupPath(raw json.RawMessage, path string) json.RawMessage {
	for seg := range strings.SplitSeq(path, ".") {
		var next json.RawMessage
		err := members(raw, func(name string, v json.RawMessage) error {
			if name == seg {
				next = v
			}
			return nil
		})
		if err != nil || next == nil {
			return nil
		}
		raw = next
	}
	return raw
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonBool(raw json.RawMessage) (bool, bool) {
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// stringArray accepts only a JSON array of strings.
func stringArray(raw json.RawMessage) ([]string, bool) {
	var v []string
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	if v == nil {
		v = []string{}
	}
	return v, true
}

// stringOrArray accepts RFC 7519's StringOrURI-or-array form (aud).
func stringOrArray(raw json.RawMessage) ([]string, bool) {
	if s, ok := jsonString(raw); ok {
		return []string{s}, true
	}
	return stringArray(raw)
}

// numericDate accepts a non-negative JSON number (RFC 7519 §2) up to the
// year 9999; strings, null and huge values are malformed.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// identity turns checked claims into an Identity (see the package doc for
// the Machine rule). Every value must be header-safe.
func identity(issuerURL string, c *claims) (session.Identity, *rejection) {
	id := session.Identity{
		Issuer:            issuerURL,
		Subject:           c.sub,
		ClientID:          cmp.Or(c.clientID, c.azp),
		PreferredUsername: cmp.Or(c.preferredUsername, c.username),
		Name:              c.name,
		SID:               c.sid,
		Groups:            slices.Clip(c.groups),
	}
	if c.emailVerified {
		id.Email = c.email
	}
	switch {
	case c.hasScope:
		id.Scopes = slices.Clip(strings.Fields(c.scope))
	case c.hasScp:
		id.Scopes = slices.Clip(c.scp)
	}
	hasUser := c.email != "" || c.preferredUsername != "" || c.username != "" || c.name != "" || c.upn != ""
	id.Machine = (id.ClientID != "" && c.sub == id.ClientID) ||
		c.gty == "client-credentials" || c.idtyp == "app" || !hasUser
	values := []string{id.Subject, id.Email, id.PreferredUsername, id.Name, id.ClientID, id.SID}
	for _, list := range [][]string{values, id.Groups, id.Scopes} {
		for _, v := range list {
			if !headerSafe(v) {
				return id, rejectf(ReasonMalformed, "token claims are not acceptable", errors.New("bearer: claim value too long or has control characters"))
			}
		}
	}
	return id, nil
}
