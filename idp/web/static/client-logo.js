// A service's logo comes from the agency's own server: if that server does not answer, hide the
// image rather than show a broken one (the service's name is next to it).
for (const img of document.querySelectorAll("img.client-logo")) {
  const hide = () => { img.hidden = true; };
  if (img.complete && img.naturalWidth === 0) hide();
  else img.addEventListener("error", hide);
}
