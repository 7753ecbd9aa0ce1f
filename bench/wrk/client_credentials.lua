-- POST /token, grant_type=client_credentials, HTTP Basic client authentication.
-- BENCH_AUTHORIZATION holds the whole Authorization header value.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=inquiry.read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
