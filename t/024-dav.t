# The dav module: PUT, DELETE, MKCOL, COPY, MOVE under the location's root.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: PUT creates (201 with a Location), PUT again replaces (204), GET reads it
--- config
    location /dav/ {
        dav_methods PUT;
    }
--- user_files
>>> dav/.keep
--- request eval
["PUT /dav/a.txt\nhello", "PUT /dav/a.txt\nhello again", "GET /dav/a.txt"]
--- error_code eval
[201, 204, 200]
--- response_headers_like eval
["Location: http://localhost:\\d+/dav/a\\.txt", "!Location", ""]
--- response_body eval
["", "", "hello again"]

=== TEST 2: PUT to a collection is a conflict
--- config
    location /dav/ {
        dav_methods PUT;
    }
--- request
PUT /dav/dir/
x
--- error_code: 409
--- error_log
cannot PUT to a collection

=== TEST 3: PUT into a missing directory fails (500, as nginx); create_full_put_path makes the path
--- config
    location /dav/ {
        dav_methods PUT;
    }
    location /full/ {
        dav_methods PUT;
        create_full_put_path on;
    }
--- request eval
["PUT /dav/no/such/dir/a.txt\nx", "PUT /full/a/b/c.txt\ndeep", "GET /full/a/b/c.txt"]
--- error_code eval
[500, 201, 200]
--- response_body_like eval
["500 Internal Server Error", "^\$", "^deep\$"]
--- error_log eval
qr/\[crit\] .*rename\(\) "[^"]+" to "[^"]+\/html\/dav\/no\/such\/dir\/a\.txt" failed \(2: No such file or directory\)/

=== TEST 3b: MKCOL makes a collection; again is 405; a name without a slash is a conflict
--- config
    location /dav/ {
        dav_methods MKCOL;
    }
--- user_files
>>> dav/.keep
--- request eval
["MKCOL /dav/new/", "MKCOL /dav/new/", "MKCOL /dav/other"]
--- error_code eval
[201, 405, 409]
--- response_headers_like eval
["Location: http://localhost:\\d+/dav/new/", "", ""]

=== TEST 3c: MKCOL with a body is refused
--- config
    location /dav/ {
        dav_methods MKCOL;
    }
--- request
MKCOL /dav/third/
body
--- error_code: 415
--- error_log
MKCOL with body is unsupported

=== TEST 4: DELETE a file, then again; a directory needs its slash and an infinite depth
--- config
    location /dav/ {
        dav_methods DELETE;
    }
--- user_files
>>> dav/f.txt
file
>>> dav/d/inner.txt
inner
--- request eval
["DELETE /dav/f.txt", "DELETE /dav/f.txt", "DELETE /dav/d", "DELETE /dav/d/", "GET /dav/d/inner.txt"]
--- more_headers eval
["", "", "", "Depth: infinity", ""]
--- error_code eval
[204, 404, 409, 204, 404]

=== TEST 5: DELETE of a directory with a depth other than infinity is refused
--- config
    location /dav/ {
        dav_methods DELETE;
    }
--- user_files
>>> dav/d/inner.txt
inner
--- request
DELETE /dav/d/
--- more_headers
Depth: 1
--- error_code: 400
--- error_log
"Depth" header must be infinity

=== TEST 6: COPY and MOVE of files: 204, new or replaced; Overwrite: F before an existing one: 412
--- config
    location /dav/ {
        dav_methods COPY MOVE;
    }
--- user_files
>>> dav/src.txt
source
>>> dav/old.txt
old
--- request eval
["COPY /dav/src.txt", "COPY /dav/src.txt", "COPY /dav/src.txt", "MOVE /dav/copy.txt", "GET /dav/moved.txt", "GET /dav/copy.txt", "GET /dav/old.txt"]
--- more_headers eval
["Destination: http://localhost/dav/copy.txt", "Destination: /dav/old.txt", "Destination: /dav/old.txt\nOverwrite: F",
 "Destination: http://localhost/dav/moved.txt", "", "", ""]
--- error_code eval
[204, 204, 412, 204, 200, 404, 200]
--- response_body_like eval
["^\$", "^\$", "412 Precondition Failed", "^\$", "^source\$", "404 Not Found", "^source\$"]

=== TEST 6b: COPY and MOVE of collections: 201, their files with them; MOVE wants an infinite depth
--- config
    location /dav/ {
        dav_methods COPY MOVE;
    }
--- user_files
>>> dav/d/f.txt
in d
--- request eval
["COPY /dav/d/", "MOVE /dav/e/", "GET /dav/g/f.txt", "GET /dav/d/f.txt", "MOVE /dav/g/"]
--- more_headers eval
["Destination: /dav/e/", "Destination: /dav/g/", "", "", "Destination: /dav/h/\nDepth: 0"]
--- error_code eval
[201, 201, 200, 200, 400]

=== TEST 7: COPY without a Destination is a bad request
--- config
    location /dav/ {
        dav_methods COPY;
    }
--- user_files
>>> dav/src.txt
source
--- request
COPY /dav/src.txt
--- error_code: 400
--- error_log
client sent no "Destination" header

=== TEST 7b: COPY to another host is a bad request
--- config
    location /dav/ {
        dav_methods COPY;
    }
--- user_files
>>> dav/src.txt
source
--- request
COPY /dav/src.txt
--- more_headers
Destination: http://elsewhere.test/dav/x.txt
--- error_code: 400
--- error_log
is handled by different repository than the source URI

=== TEST 7c: a missing source is logged as nginx logs it
--- config
    location /dav/ {
        dav_methods DELETE COPY;
    }
--- request
DELETE /dav/nothere
--- error_code: 404
--- error_log eval
qr/\[error\] .*lstat\(\) "[^"]+\/dav\/nothere" failed \(2: No such file or directory\)/

=== TEST 8: methods not listed are not the dav module's: GET is served, PUT is not allowed
--- config
    location /dav/ {
        dav_methods DELETE;
    }
--- user_files
>>> dav/f.txt
file
--- request eval
["GET /dav/f.txt", "PUT /dav/g.txt\nx"]
--- error_code eval
[200, 405]
