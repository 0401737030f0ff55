package metrics

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// pushTarget is a Pushgateway URL split for the push client: the credentials
// go in an Authorization header, never in the URL an error message shows.
type pushTarget struct {
	base           string // scheme://host[:port][/prefix], no credentials
	user, password string
	shown          string // the URL with the password masked
}

// parsePushURL splits raw (http://host:9091 by default scheme); its errors
// never quote raw, which may hold a password.
func parsePushURL(raw string) (pushTarget, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return pushTarget{}, fmt.Errorf("metrics push URL is not a URL (%v); give the Pushgateway's address, such as http://pushgateway:9091", err)
	}
	// What errors and logs show: no password, and no query, which may hold a token.
	masked := *u
	masked.RawQuery, masked.Fragment = "", ""
	shown := masked.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return pushTarget{}, fmt.Errorf("metrics push URL %s: the scheme must be http or https", shown)
	case u.Host == "":
		return pushTarget{}, fmt.Errorf("metrics push URL %s has no host; give the Pushgateway's address, such as http://pushgateway:9091", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return pushTarget{}, fmt.Errorf("metrics push URL %s: remove the query or fragment", shown)
	case strings.Contains(u.Path+"/", "/metrics/"):
		return pushTarget{}, fmt.Errorf("metrics push URL %s: give the Pushgateway's base URL without /metrics/...; the job and grouping labels are set separately", shown)
	}
	t := pushTarget{shown: shown}
	if u.User != nil {
		t.user = u.User.Username()
		t.password, _ = u.User.Password()
		u.User = nil
	}
	t.base = u.String()
	return t, nil
}
