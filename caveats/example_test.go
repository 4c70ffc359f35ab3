package caveats_test

import (
	"encoding/json"
	"fmt"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

func Example() {
	prog, _, err := schema.Compile("example.zed", []byte(`
definition user {}

caveat is_valid_ip(user_ip ipaddress, cidr string) {
  user_ip.in_cidr(cidr)
}

definition document {
  relation viewer: user with is_valid_ip
}`))
	if err != nil {
		panic(err)
	}
	c, err := caveats.Compile(prog.Caveat("is_valid_ip"))
	if err != nil {
		panic(err)
	}

	// The relationship document:doc#viewer@user:tom[is_valid_ip:{"cidr":"10.0.0.0/8"}]
	// stores part of the context; a request gives the rest (or not).
	var stored map[string]any
	_ = json.Unmarshal([]byte(`{"cidr": "10.0.0.0/8"}`), &stored)

	for _, req := range []string{`{"user_ip": "10.2.3.4"}`, `{"user_ip": "1.2.3.4"}`, `{}`, `{"user_ip": 42}`} {
		var ctx map[string]any
		_ = json.Unmarshal([]byte(req), &ctx)
		res, err := c.Evaluate(stored, ctx)
		if err != nil {
			fmt.Println(req, "->", err)
			continue
		}
		fmt.Println(req, "->", res)
	}
	// Output:
	// {"user_ip": "10.2.3.4"} -> true
	// {"user_ip": "1.2.3.4"} -> false
	// {} -> partial, missing user_ip
	// {"user_ip": 42} -> type error for parameters for caveat `is_valid_ip`: could not convert context parameter `user_ip`: for ipaddress: ipaddress requires an ipaddress string, found: float64 `42`
}
