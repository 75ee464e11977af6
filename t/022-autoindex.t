# autoindex: directory listings laid out as nginx's (checked byte for byte against
# Debian's nginx when written).

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
qr{<a href="big\.bin">big\.bin</a> {44}\S+ \S+     20K\r
<a href="small\.txt">small\.txt</a> {42}\S+ \S+       2\r
}

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

=== TEST 6: autoindex_format other than html is not done yet, and says so
--- config
    autoindex_format json;
--- must_die
--- error_log
autoindex_format json is not supported yet
