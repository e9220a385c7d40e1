(* Links against Kronos's libxen-ocaml-dev: lists the domains the hypervisor
   knows (Xenctrl) and reads each one's name from xenstore (Xenstore).
   Build: ocamlfind ocamlopt -package xenctrl,xenstore -linkpkg xen_domains.ml -o xen_domains
   Running it needs a Xen dom0 (/dev/xen/privcmd and a xenstored). *)

let name_of xs domid =
  try xs.Xenstore.Xs.read (Printf.sprintf "/local/domain/%d/name" domid)
  with _ -> "?"

let () =
  let xc = Xenctrl.interface_open () in
  let xs = Xenstore.Xs.daemon_open () in
  let domains = Xenctrl.domain_getinfolist xc 0 in
  List.iter
    (fun (d : Xenctrl.domaininfo) ->
      Printf.printf "%5d %s\n" d.Xenctrl.domid (name_of xs d.Xenctrl.domid))
    domains;
  Xenstore.Xs.close xs;
  Xenctrl.interface_close xc
