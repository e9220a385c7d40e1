(* A smoke test of our qcheck 0.91 backport on bookworm (libqcheck-ocaml-dev /
   libqcheck-core-ocaml-dev). Build and run:
     ocamlfind ocamlopt -package qcheck-core,qcheck-core.runner -linkpkg qcheck_rev.ml -o qcheck_rev && ./qcheck_rev
   (or -package qcheck, the compatibility package, which pulls both in; qcheck-core alone
   lacks QCheck_base_runner)
   It checks a true property through the runner (exit code 0 when it holds), and that
   QCheck finds a counterexample to a false one, so the program cannot pass by testing
   nothing. *)

let rev_twice =
  QCheck.Test.make ~count:1000 ~name:"List.rev (List.rev l) = l"
    QCheck.(list nat_small)
    (fun l -> List.rev (List.rev l) = l)

let rev_is_identity =
  QCheck.Test.make ~count:1000 ~name:"List.rev l = l (false)"
    QCheck.(list nat_small)
    (fun l -> List.rev l = l)

let () =
  let false_caught =
    match QCheck.Test.check_exn rev_is_identity with
    | () -> false
    | exception QCheck.Test.Test_fail (_, counterexamples) -> counterexamples <> []
  in
  if not false_caught then begin
    prerr_endline "qcheck did not find a counterexample to a false property";
    exit 2
  end;
  print_endline "counterexample to the false property found";
  exit (QCheck_base_runner.run_tests ~verbose:true [ rev_twice ])
