"""Token grants, one module each, registered on the authorization server by `idp.web.app`."""
