# autoindex: directory listings laid out as nginx's (checked byte for byte against
# Debian's nginx when written).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a listing: the parent link, directories first, names padded to 50 columns
--- config
    location /d/ {
        autoindex on;
    }
--- user_files
>>> d/b.txt
hello
>>> d/a<&>.txt
x
>>> d/.hidden
secret
>>> d/sub/inner.txt
in
--- request
GET /d/
--- response_headers
Content-Type: text/html
--- response_body_like eval
qr{^<html>\r
<head><title>Index of /d/</title></head>\r
<body>\r
<h1>Index of /d/</h1><hr><pre><a href="\.\./">\.\./</a>\r
<a href="sub/">sub/</a> {47}\d\d-\w{3}-\d{4} \d\d:\d\d {19}-\r
<a href="a%3C%26%3E\.txt">a&lt;&amp;&gt;\.txt</a> {43}\d\d-\w{3}-\d{4} \d\d:\d\d {19}2\r
<a href="b\.txt">b\.txt</a> {46}\d\d-\w{3}-\d{4} \d\d:\d\d {19}6\r
</pre><hr></body>\r
</html>\r
$}

=== TEST 2: without autoindex a directory without index file is forbidden
--- config
    location /d/ { }
--- user_files
>>> d/b.txt
hello
--- request
GET /d/
--- error_code: 403
--- error_log
is forbidden

=== TEST 3: autoindex_exact_size off: sizes rounded to K, M, G in 7 columns
--- config
    location /d/ {
        autoindex on;
        autoindex_exact_size off;
    }
    location = /make {
        content_by_lua_block {
            local f = assert(io.open(ngx.config.prefix() .. "html/d/big.bin", "w"))
            f:write(string.rep("y", 20000))
            f:close()
            ngx.say("made")
        }
    }
--- user_files
>>> d/small.txt
x
--- pipelined_requests eval
["GET /make", "GET /d/"]
--- response_body_like eval
[qr{^made\n$}, qr{<a href="big\.bin">big\.bin</a> {44}\S+ \S+     20K\r
<a href="small\.txt">small\.txt</a> {42}\S+ \S+       2\r
}]

=== TEST 4: other methods than GET and HEAD: 405
--- config
    location /d/ {
        autoindex on;
    }
--- user_files
>>> d/b.txt
hello
--- request
POST /d/
--- error_code: 405

=== TEST 5: an index file wins over the listing
--- config
    location /d/ {
        autoindex on;
    }
--- user_files
>>> d/index.html
the index
--- request
GET /d/
--- response_body
the index

=== TEST 6: autoindex_format json: one object per entry, names JSON-escaped, HTTP dates
--- http_config
    # (names with spaces and quotes: made here, user_files cannot hold them)
    init_by_lua_block {
        local d = ngx.config.prefix() .. "html/d/"
        os.execute("mkdir -p " .. d .. "sub")
        for name, text in pairs({ ['b "q".txt'] = "hello\n", ["back\\slash"] = "x\n", ["sub/inner.txt"] = "in\n" }) do
            local f = assert(io.open(d .. name, "w"))
            f:write(text)
            f:close()
        end
    }
--- config
    location /d/ {
        autoindex on;
        autoindex_format json;
    }
--- request
GET /d/
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr{^\[\r
\{ "name":"sub", "type":"directory", "mtime":"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT" \},\r
\{ "name":"b \\"q\\"\.txt", "type":"file", "mtime":"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", "size":6 \},\r
\{ "name":"back\\\\slash", "type":"file", "mtime":"[^"]+", "size":2 \}\r
\]$}

=== TEST 7: autoindex_format json of a directory with nothing to list
--- config
    location /d/ {
        autoindex on;
        autoindex_format json;
    }
--- user_files
>>> d/.hidden
secret
--- request
GET /d/
--- response_body eval
"[\r\n]"

=== TEST 8: autoindex_format xml: ISO dates, names XML-escaped, UTF-8 declared
--- config
    location /d/ {
        autoindex on;
        autoindex_format xml;
    }
--- user_files
>>> d/a<&>.txt
x
>>> d/sub/inner.txt
in
--- request
GET /d/
--- response_headers
Content-Type: text/xml; charset=utf-8
--- response_body_like eval
qr{^<\?xml version="1\.0"\?>\r
<list>\r
<directory mtime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">sub</directory>\r
<file mtime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" size="2">a&lt;&amp;&gt;\.txt</file>\r
</list>\r
$}

=== TEST 9: autoindex_format jsonp: wrapped in the callback $arg_callback names
--- config
    location /d/ {
        autoindex on;
        autoindex_format jsonp;
    }
--- user_files
>>> d/f.txt
abc
--- request
GET /d/?callback=my_cb.fn
--- response_headers
Content-Type: application/javascript
--- response_body_like eval
qr{^/\* callback \*/\r
my_cb\.fn\(\[\r
\{ "name":"f\.txt", "type":"file", "mtime":"[^"]+", "size":4 \}\r
\]\);$}

=== TEST 10: autoindex_format jsonp without a callback is plain JSON
--- config
    location /d/ {
        autoindex on;
        autoindex_format jsonp;
    }
--- user_files
>>> d/f.txt
abc
--- request
GET /d/?callback=
--- response_headers
Content-Type: application/json
--- response_body_like eval
qr{^\[\r\n\{ "name":"f\.txt", "type":"file", "mtime":"[^"]+", "size":4 \}\r\n\]$}

=== TEST 11: autoindex_format jsonp refuses a callback name that is not a plain name
--- config
    location /d/ {
        autoindex on;
        autoindex_format jsonp;
    }
--- user_files
>>> d/f.txt
abc
--- request
GET /d/?callback=alert%281%29
--- error_code: 400
--- error_log
client sent invalid callback name: "alert%281%29"

=== TEST 12: autoindex_format takes html, xml, json or jsonp
--- config
    location /x/ {
        autoindex_format yaml;
    }
--- must_die
--- error_log
invalid value "yaml" in "autoindex_format" directive
