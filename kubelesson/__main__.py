from kubelesson.cli import main

main()
