-- GET of the URL given to wrk (discovery, JWKS): a static request, so wrk builds it once.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
