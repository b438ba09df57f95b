package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// SemVer is a parsed semantic version (https://semver.org): MAJOR.MINOR.PATCH with an
// optional pre-release and build metadata.
type SemVer struct {
	Major, Minor, Patch uint64
	Pre                 string // pre-release identifiers without the leading '-'
	Build               string // build metadata without the leading '+'
}

// maxComponent bounds numeric components so that keys stay fixed width.
const maxComponent = 9999999999

// ParseSemVer parses a semantic version string, returning a *FieldError for "version"
// that names the offending part when s is malformed.
func ParseSemVer(s string) (SemVer, error) {
	var v SemVer
	if s == "" {
		return v, fieldErr("version", "must not be empty")
	}
	if len(s) > maxNameLen {
		return v, fieldErr("version", "longer than %d characters", maxNameLen)
	}
	core := s
	if i := strings.IndexByte(core, '+'); i >= 0 {
		v.Build = core[i+1:]
		core = core[:i]
		if err := checkIdents(v.Build, "build metadata", false); err != nil {
			return SemVer{}, err
		}
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		v.Pre = core[i+1:]
		core = core[:i]
		if err := checkIdents(v.Pre, "pre-release", true); err != nil {
			return SemVer{}, err
		}
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return SemVer{}, fieldErr("version", "%q is not MAJOR.MINOR.PATCH", s)
	}
	names := [3]string{"major", "minor", "patch"}
	dst := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		n, err := parseNumeric(p)
		if err != nil {
			return SemVer{}, fieldErr("version", "%s component %q: %v", names[i], p, err)
		}
		*dst[i] = n
	}
	return v, nil
}

func parseNumeric(p string) (uint64, error) {
	if p == "" {
		return 0, fmt.Errorf("empty")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, fmt.Errorf("not a number")
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("leading zero")
	}
	n, err := strconv.ParseUint(p, 10, 64)
	if err != nil || n > maxComponent {
		return 0, fmt.Errorf("larger than %d", uint64(maxComponent))
	}
	return n, nil
}

func checkIdents(s, what string, numericNoLeadingZero bool) error {
	if s == "" {
		return fieldErr("version", "empty %s", what)
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return fieldErr("version", "empty identifier in %s %q", what, s)
		}
		allDigits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				allDigits = false
			default:
				return fieldErr("version", "invalid character %q in %s %q", rune(c), what, s)
			}
		}
		if numericNoLeadingZero && allDigits && len(id) > 1 && id[0] == '0' {
			return fieldErr("version", "leading zero in %s identifier %q", what, id)
		}
	}
	return nil
}

// String formats v back to its canonical text.
func (v SemVer) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// key returns the storage key: zero-padded components, then '-'+pre-release or '~' for a
// release (so releases sort after their pre-releases), then '+'+build when present.
func (v SemVer) key() []byte {
	s := fmt.Sprintf("%010d.%010d.%010d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	} else {
		s += "~"
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return []byte(s)
}

// Compare orders versions by semver precedence (-1, 0, +1); build metadata breaks ties
// lexically so that distinct strings never compare equal.
func (v SemVer) Compare(o SemVer) int {
	for _, d := range [3][2]uint64{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	if c := comparePre(v.Pre, o.Pre); c != 0 {
		return c
	}
	return strings.Compare(v.Build, o.Build)
}

func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.ParseUint(as[i], 10, 64)
		bn, berr := strconv.ParseUint(bs[i], 10, 64)
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}
