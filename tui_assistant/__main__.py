from tui_assistant.cli import main

raise SystemExit(main())
