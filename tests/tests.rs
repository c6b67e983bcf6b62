// end-to-end tests
