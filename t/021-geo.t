# geo: variables from the client address (or another), the most specific network winning.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: the client address, the most specific network wins
--- http_config
    geo $where {
        default    elsewhere;
        127.0.0.0/8 loopback;
        127.0.0.1  me;
    }
--- config
    location = /t {
        return 200 "$where\n";
    }
--- request
GET /t
--- response_body
me

=== TEST 2: delete takes a network out again
--- http_config
    geo $where {
        default    elsewhere;
        127.0.0.0/8 loopback;
        127.0.0.1  me;
        delete     127.0.0.1;
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.where) }
    }
--- request
GET /t
--- response_body
loopback

=== TEST 3: another address; one that is not an address reads as 255.255.255.255
--- http_config
    geo $arg_ip $net {
        default          world;
        10.0.0.0/8       corp;
        255.255.255.255  broadcast;
    }
--- config
    location = /t {
        return 200 "$net\n";
    }
--- pipelined_requests eval
["GET /t?ip=10.1.2.3", "GET /t?ip=8.8.8.8", "GET /t?ip=nonsense"]
--- response_body eval
["corp\n", "world\n", "broadcast\n"]

=== TEST 4: ranges
--- http_config
    geo $arg_ip $band {
        ranges;
        default                    none;
        10.0.0.0-10.0.0.255        low;
        10.0.0.100-10.0.0.200      mid;
    }
--- config
    location = /t {
        return 200 "$band\n";
    }
--- pipelined_requests eval
["GET /t?ip=10.0.0.150", "GET /t?ip=10.0.0.50", "GET /t?ip=10.0.1.1"]
--- response_body eval
["mid\n", "low\n", "none\n"]

=== TEST 5: behind a listed proxy, the address from X-Forwarded-For
--- http_config
    geo $origin {
        proxy       127.0.0.1;
        default     other;
        9.9.9.0/24  nine;
    }
--- config
    location = /t {
        return 200 "$origin\n";
    }
--- request
GET /t
--- more_headers
X-Forwarded-For: 1.1.1.1, 9.9.9.9
--- response_body
nine

=== TEST 6: a block list with if
--- http_config
    geo $blocked {
        default    0;
        127.0.0.1  1;
    }
--- config
    location = /t {
        if ($blocked) {
            return 403;
        }
        return 200 "in\n";
    }
--- request
GET /t
--- error_code: 403

=== TEST 7: a network that is not one is refused at startup
--- http_config
    geo $g {
        10.0.0.0/33 x;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid network "10.0.0.0/33"

=== TEST 8: a line of three words is refused
--- http_config
    geo $g {
        10.0.0.0/8 x y;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid number of the geo parameters
