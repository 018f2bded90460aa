from srs_lib.cli import main

raise SystemExit(main())
