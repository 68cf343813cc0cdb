// Package attacks is gatehouse's black-box attack suite: every case of the
// attack catalogue (shared/ATTACKS.md) as a test against the real gatehouse
// binary, a controllable OIDC issuer (contrib/devissuer) and a recording
// upstream. See README.md.
package attacks
