# ngx.location.capture and capture_multi: subrequests to locations of the same server.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: status, body, headers; the subrequest's own URI, args and method
--- config
    location = /sub {
        content_by_lua_block {
            ngx.header["X-Sub"] = "yes"
            ngx.say("sub: ", ngx.var.uri, " ", ngx.var.args, " ", ngx.req.get_method(), " ", ngx.is_subrequest)
        }
    }
    location = /t {
        content_by_lua_block {
            local res = ngx.location.capture("/sub?a=1", { args = { b = 2 } })
            ngx.say(res.status, " [", res.body, "] ", res.header["X-Sub"], " ", tostring(res.truncated))
            ngx.say("main: ", ngx.is_subrequest)
        }
    }
--- request
GET /t
--- response_body
200 [sub: /sub a=1&b=2 GET true
] yes false
main: false
--- no_error_log
[error]

=== TEST 2: capture_multi with methods and bodies; other modules' locations; a 404
--- config
    location = /body {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_method(), " got ", ngx.req.get_body_data())
        }
    }
    location = /static { return 201 "static\n"; }
    location = /t {
        content_by_lua_block {
            local r1, r2, r3 = ngx.location.capture_multi({
                { "/body", { method = ngx.HTTP_POST, body = "hello" } },
                { "/static" },
                { "/missing" },
            })
            ngx.say(r1.status, " ", r1.body, r2.status, " ", r2.body, r3.status, " [", r3.body, "]")
        }
    }
--- request
GET /t
--- response_body
200 POST got hello
201 static
404 []
--- error_log eval
qr/open\(\) ".*missing" failed \(2: No such file or directory\), client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", subrequest: "\/missing"/

=== TEST 3: subrequests in rewrite and access, nested subrequests, bad arguments
--- config
    location = /leaf { return 200 "leaf"; }
    location = /mid {
        content_by_lua_block {
            local res = ngx.location.capture("/leaf")
            ngx.print("mid(", res.body, ")")
        }
    }
    location = /t {
        rewrite_by_lua_block { ngx.ctx.r = ngx.location.capture("/leaf").body }
        access_by_lua_block { ngx.ctx.a = ngx.location.capture("/mid").body }
        content_by_lua_block {
            ngx.say(ngx.ctx.r, " ", ngx.ctx.a)
            ngx.say(pcall(ngx.location.capture, "/leaf", { method = 12345 }))
            ngx.say(pcall(ngx.location.capture_multi, {}))
        }
    }
--- request
GET /t
--- response_body_like chomp
^leaf mid\(leaf\)
false.*failed to adjust the subrequest: -1
false.*at least one subrequest should be specified
$
--- error_log
unsupported HTTP method: 12345

=== TEST 4: vars, copy_all_vars, share_all_vars, ctx, and the body forwarded
--- config
    location = /vars {
        content_by_lua_block {
            ngx.say("dog=", ngx.var.dog, " cat=", ngx.var.cat, " ctx=", ngx.ctx.foo)
            ngx.var.dog = "changed"
            ngx.ctx.foo = "set by the subrequest"
        }
    }
    location = /echo_body {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_method(), " ", ngx.req.get_body_data())
        }
    }
    location = /t {
        set $dog "main dog";
        set $cat "main cat";
        content_by_lua_block {
            local res = ngx.location.capture("/vars", { vars = { cat = "given cat" } })
            ngx.print(res.body)
            res = ngx.location.capture("/vars", { copy_all_vars = true })
            ngx.print(res.body)
            ngx.say("after copy: ", ngx.var.dog)
            local ctx = { foo = "bar" }
            res = ngx.location.capture("/vars", { share_all_vars = true, ctx = ctx })
            ngx.print(res.body)
            ngx.say("after share: ", ngx.var.dog, "; ctx: ", ctx.foo)
            ngx.req.read_body()
            ngx.print(ngx.location.capture("/echo_body", { method = ngx.HTTP_POST }).body)
            ngx.print(ngx.location.capture("/echo_body").body)
            ngx.print(ngx.location.capture("/echo_body", { always_forward_body = true }).body)
        }
    }
--- request
POST /t
the body
--- response_body
dog= cat=given cat ctx=nil
dog=main dog cat=main cat ctx=nil
after copy: main dog
dog=main dog cat=main cat ctx=bar
after share: changed; ctx: set by the subrequest
POST the body
GET nil
GET the body
--- no_error_log
[error]

=== TEST 5: capture_multi runs its subrequests at once
--- config
    location = /slow {
        content_by_lua_block { ngx.sleep(0.2) ngx.print(ngx.var.arg_n) }
    }
    location = /t {
        content_by_lua_block {
            local t0 = ngx.now()
            local a, b, c = ngx.location.capture_multi({ { "/slow?n=1" }, { "/slow?n=2" }, { "/slow?n=3" } })
            ngx.update_time()
            local took = ngx.now() - t0
            ngx.say(a.body, b.body, c.body, " ", took < 0.5)
        }
    }
--- request
GET /t
--- response_body
123 true
--- no_error_log
[error]
