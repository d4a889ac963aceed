package compat

import "testing"

func TestUnderlineFollowsDataExport(t *testing.T) {
	for in, want := range map[string]string{
		"set":             "set",
		"balanceOf":       "balance_of",
		"HelloWorld":      "hello_world",
		"ERC20Token":      "erc20_token",
		"getURL":          "get_url",
		"URLValue":        "url_value",
		"_to":             "_to",
		"docHash":         "doc_hash",
		"modifyUserEvent": "modify_user_event",
		"value2":          "value2",
	} {
		if got := underline(in); got != want {
			t.Errorf("underline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripIsOnlyBeforeAnUpperCaseLetter(t *testing.T) {
	for in, want := range map[string]string{"isActive": "active", "issuer": "issuer", "is": "is", "isX": "x"} {
		if got := stripIs(in); got != want {
			t.Errorf("stripIs(%q) = %q, want %q", in, got, want)
		}
	}
}
